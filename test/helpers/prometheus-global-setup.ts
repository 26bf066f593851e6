/**
 * vitest global set-up: makes sure the Prometheus binaries the Prometheus and dashboard tests start are
 * there, so `npm ci && npm test` passes on a fresh machine. When they are missing and this runs as root
 * with apt-get available (a CI container, as `.ci/run`), it installs the Debian package `prometheus` once,
 * saying so. Otherwise it leaves them missing: those tests then fail with the exact command to run
 * (`INSTALL_HINT`). Set `TOKENTRACE_TEST_NO_INSTALL=1` to never install.
 */
import { spawnSync } from "node:child_process";
import { findBinary } from "./prometheus-server.js";

export default function ensurePrometheus(): void {
  if (findBinary("prometheus") !== undefined && findBinary("promtool") !== undefined) return;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot || findBinary("apt-get") === undefined || process.env["TOKENTRACE_TEST_NO_INSTALL"] === "1") return;
  process.stdout.write(
    "tokentrace tests: installing the Debian package `prometheus` (apt-get install -y prometheus) for the Prometheus tests\n",
  );
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = spawnSync("apt-get", ["update", "-qq"], { env, stdio: ["ignore", "ignore", "inherit"] });
  const install =
    update.status === 0
      ? spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "prometheus"], {
          env,
          stdio: ["ignore", "ignore", "inherit"],
        })
      : update;
  if (install.status !== 0)
    process.stdout.write("tokentrace tests: installing prometheus failed; the Prometheus tests will say what to run\n");
}
