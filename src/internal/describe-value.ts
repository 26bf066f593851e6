/** How a rejected option value is named in a sink's error message: its kind, and the value where it is short. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value)}`;
    case "object":
      return value === null ? "null" : Array.isArray(value) ? "an array" : "an object";
    default:
      return `${typeof value} ${String(value)}`;
  }
}
