// A leader killed (SIGKILL) in the middle of a read/write loop costs no call an error: the SDK
// fails over and retries within its documented window (retryTimeoutMs, 15 s). Runs on a
// cluster of its own, since it leaves one node dead.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";

import { AgentVault, AgentVaultError, DEFAULT_RETRY_TIMEOUT_MS } from "agentsecretstore";
import { Cluster } from "./cluster.mjs";

let c;
before(async () => { c = await Cluster.start(3); });
after(async () => { await c?.stop(); });

test("a leader SIGKILL during a read/write loop fails no call, and every write applies once", async () => {
  const path = `production/${randomUUID().slice(0, 8)}/GEMINI_API_KEY`;
  await c.put(path, "v0");
  const key = await c.createAgent([`secrets:read:${path}`, `secrets:write:${path}`]);
  const leader = await c.leader();
  const addrs = [c.addrs[leader], ...c.addrs.filter((_, i) => i !== leader)];
  const vault = new AgentVault({ agentKey: key, addr: addrs, caCert: c.caFile });
  await vault.requestToken({ scopes: [`secrets:read:${path}`, `secrets:write:${path}`], ttl: "10m" });
  const latencies = [];
  const failures = [];
  let writes = 0;
  let killed = false;
  const start = performance.now();
  for (let i = 0; performance.now() - start < 9000; i++) {
    if (!killed && performance.now() - start > 2000) { c.killNode(leader); killed = true; }
    const t0 = performance.now();
    try {
      if (i % 4 === 3) {
        const w = await vault.setSecret(path, `v${writes + 1}`);
        writes += 1;
        assert.equal(w.version, writes + 1);
      } else {
        assert.equal((await vault.getSecret(path)).value, `v${writes}`);
      }
    } catch (e) {
      if (!(e instanceof AgentVaultError)) throw e;
      failures.push(`${e.name} ${e.code}: ${e.message}`);
    }
    latencies.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  const final = await vault.getSecret(path);
  await vault.close();
  const slowest = Math.max(...latencies);
  console.log(`leader kill: ${latencies.length} calls (${writes} writes), ${failures.length} failed, slowest ${(slowest / 1000).toFixed(2)} s (window ${DEFAULT_RETRY_TIMEOUT_MS / 1000} s)`);
  assert.deepEqual(failures, []);
  assert.ok(slowest < DEFAULT_RETRY_TIMEOUT_MS);
  assert.equal(final.version, writes + 1, "every write applied exactly once");
});
