import { reportInternalError } from "../internal/report.js";

/** Run one step of the end of a call; a failure is reported and loses only that step. */
export function guard<T>(kind: string, step: () => T): T | undefined {
  try {
    return step();
  } catch (error) {
    reportInternalError(kind, error);
    return undefined;
  }
}
