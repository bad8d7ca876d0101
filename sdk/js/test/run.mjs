// The JS test run's global setup: starts one 3-node dev cluster, hands it to the test files
// (ASS_TEST_CLUSTER), runs them with `node --test`, stops the cluster, and fails unless at
// least one test ran and none failed (a run of zero tests never passes silently).

import { spawn } from "node:child_process";
import { readdirSync, readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Cluster } from "./cluster.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here).filter((f) => f.endsWith(".test.mjs")).sort().map((f) => join(here, f));
const only = process.argv.slice(2);
const chosen = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
const tap = join(mkdtempSync(join(tmpdir(), "ass-sdk-js-tap-")), "report.tap");

const cluster = await Cluster.start(3);
let code = 1;
try {
  const child = spawn(process.execPath, [
    "--test", "--test-concurrency=1",
    "--test-reporter=spec", "--test-reporter-destination=stdout",
    "--test-reporter=tap", `--test-reporter-destination=${tap}`,
    ...chosen,
  ], { stdio: "inherit", env: { ...process.env, ASS_TEST_CLUSTER: JSON.stringify(cluster.describe()) } });
  code = await new Promise((r) => child.on("exit", (c) => r(c ?? 1)));
} finally {
  await cluster.stop();
}
const report = readFileSync(tap, "utf8");
const num = (k) => Number((report.match(new RegExp(`^# ${k} (\\d+)`, "m")) ?? [])[1] ?? NaN);
const [tests, pass, fail] = [num("tests"), num("pass"), num("fail")];
console.log(`\nagentsecretstore JS: ${pass} of ${tests} tests passed, ${fail} failed (${chosen.length} files)`);
if (!(tests > 0) || fail !== 0 || pass !== tests) code = code || 1;
process.exit(code);
