// Retry, failover and refresh timing against local fake nodes (plain node:http servers on
// 127.0.0.1): the logic the live tests can't pin down to the tenth of a second.

import assert from "node:assert/strict";
import * as http from "node:http";
import { afterEach, test } from "node:test";

import { AgentVault, ConfigurationError, NoLeaderError, NotFoundError, RateLimitedError, UnauthorizedError } from "agentsecretstore";

const P = "dev/app/KEY";
const servers = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function fakeNode(handler) {
  const seen = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const raw = Buffer.concat(chunks).toString();
      const s = { method: req.method, path: req.url, headers: req.headers, body: raw ? JSON.parse(raw) : undefined, at: performance.now() };
      seen.push(s);
      const [status, body] = await handler(s);
      const out = JSON.stringify(body);
      const h = { "content-type": "application/json", "content-length": Buffer.byteLength(out) };
      if (req.headers["x-ass-request-id"]) h["x-ass-request-id"] = req.headers["x-ass-request-id"];
      res.writeHead(status, h);
      res.end(out);
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  servers.push(srv);
  const url = `http://127.0.0.1:${srv.address().port}`;
  const count = (method, prefix) => seen.filter((s) => s.method === method && s.path.startsWith(prefix)).length;
  return { url, seen, count };
}

afterEach(async () => {
  for (const s of servers.splice(0)) { s.closeAllConnections(); await new Promise((r) => s.close(r)); }
});

const err = (status, code, extra = {}) => [status, { error: code, message: `fake ${code}`, ...extra }];
const secretBody = (value = "v") => ({ path: P, version: 1, value, type: "generic", tier: "standard", created_at: "2026-01-01T00:00:00.000Z" });
function tokenBody(token, lifetimeS, remainingS = lifetimeS) {
  const now = Date.now();
  const expires = new Date(now + remainingS * 1000);
  const issued = new Date(expires.getTime() - lifetimeS * 1000);
  return { token, accessor: `acc-${token}`, scopes: ["secrets:read:*"], ip_allowlist: [], issued_at: issued.toISOString(), expires_at: expires.toISOString(), ttl_remaining_secs: Math.floor(remainingS), break_glass: false };
}

function agentNode({ lifetime, remaining, refresh, onGet }) {
  let n = 0;
  return fakeNode(async (s) => {
    if (s.path === "/v1/tokens") return [200, tokenBody(`asst_buy${++n}`, lifetime, remaining)];
    if (s.path === "/v1/tokens/refresh") return refresh ?? [200, tokenBody(`asst_ref${++n}`, lifetime)];
    return onGet ? onGet(s) : [200, secretBody()];
  });
}

test("a write fails over on 503 keeping one request id", async () => {
  const a = await fakeNode(() => err(503, "no_leader"));
  const b = await fakeNode(() => [200, { path: P, version: 3, index: 9 }]);
  const v = new AgentVault({ token: "asst_given", addr: [a.url, b.url] });
  const w = await v.setSecret(P, "x");
  assert.deepEqual([w.version, w.index], [3, 9]);
  assert.equal(v.currentAddress, b.url);
  await v.close();
  assert.equal(a.seen.length, 1);
  assert.equal(b.seen.length, 1);
  assert.equal(a.seen[0].headers["x-ass-request-id"], b.seen[0].headers["x-ass-request-id"]);
});

test("429 rate_limited moves to the next node", async () => {
  const a = await fakeNode(() => err(429, "rate_limited"));
  const b = await fakeNode(() => [200, secretBody()]);
  const v = new AgentVault({ token: "asst_given", addr: [a.url, b.url] });
  assert.equal((await v.getSecret(P)).value, "v");
  await v.close();
  assert.deepEqual([a.seen.length, b.seen.length], [1, 1]);
});

test("retries are bounded by the window, with a growing backoff capped at 1 s", async () => {
  const a = await fakeNode(() => err(503, "no_leader"));
  const b = await fakeNode(() => err(503, "no_leader"));
  const v = new AgentVault({ token: "asst_given", addr: [a.url, b.url], retryTimeoutMs: 2500 });
  const t0 = performance.now();
  await assert.rejects(v.getSecret(P), (e) => e instanceof NoLeaderError && e.status === 503);
  const took = performance.now() - t0;
  await v.close();
  const seen = [...a.seen, ...b.seen].sort((x, y) => x.at - y.at);
  const gaps = seen.slice(1).map((s, i) => s.at - seen[i].at);
  console.log(`gave up after ${(took / 1000).toFixed(2)} s, ${seen.length} attempts, gaps ${gaps.map((g) => (g / 1000).toFixed(2)).join(", ")}`);
  assert.ok(took >= 2400 && took <= 3500, String(took));
  assert.ok(seen.length >= 5 && seen.length <= 10, String(seen.length));
  assert.ok(gaps.every((g) => g <= 1500));
  assert.ok(gaps[0] < gaps.at(-1), "the backoff grows");
});

test("a definite error is not retried", async () => {
  const a = await fakeNode(() => err(404, "not_found"));
  const b = await fakeNode(() => [200, secretBody()]);
  const v = new AgentVault({ token: "asst_given", addr: [a.url, b.url] });
  await assert.rejects(v.getSecret(P), NotFoundError);
  await v.close();
  assert.deepEqual([a.seen.length, b.seen.length], [1, 0]);
});

test("connection refused fails over", async () => {
  const b = await fakeNode(() => [200, secretBody()]);
  const v = new AgentVault({ token: "asst_given", addr: ["http://127.0.0.1:1", b.url] });
  assert.equal((await v.getSecret(P)).value, "v");
  await v.close();
});

test("concurrent first calls buy one token and share one refresh", async () => {
  // 100 s lifetime with 30 s left: inside the 50 s margin, so due at once.
  const a = await agentNode({ lifetime: 100, remaining: 30 });
  const v = new AgentVault({ agentKey: "ass_key", addr: [a.url] });
  await Promise.all(Array.from({ length: 10 }, () => v.getSecret(P)));
  await Promise.all(Array.from({ length: 20 }, () => v.getSecret(P)));
  await v.close();
  assert.equal(a.count("POST", "/v1/tokens/refresh"), 1);
  assert.equal(a.count("POST", "/v1/tokens") - a.count("POST", "/v1/tokens/refresh"), 1);
  const bearers = a.seen.filter((s) => s.method === "GET").map((s) => s.headers.authorization);
  assert.equal(bearers.at(-1), "Bearer asst_ref2");
  assert.ok(bearers.filter((b) => b === "Bearer asst_ref2").length >= 20);
});

test("the refresh comes on the first call inside the margin", async () => {
  // A 4 s token: margin max(20 %, 60 s) capped at half = 2 s.
  const a = await agentNode({ lifetime: 4, remaining: 4 });
  const v = new AgentVault({ agentKey: "ass_key", addr: [a.url] });
  await v.requestToken({ scopes: ["secrets:read:*"], ttl: "4s" });
  const t0 = performance.now();
  while (a.count("POST", "/v1/tokens/refresh") === 0) {
    await v.getSecret(P);
    await sleep(50);
  }
  const took = performance.now() - t0;
  await v.close();
  console.log(`refreshed ${(took / 1000).toFixed(3)} s after the token was bought (margin begins at 2.0 s)`);
  assert.ok(took >= 1900 && took <= 2800, String(took));
});

test("a 401 on an expired token buys it again, once", async () => {
  // A 3 s token whose refresh keeps failing (500): used until it expires, then a GET gets
  // 401; the SDK buys a new one with the agent key and sends the call once more.
  let start = performance.now();
  const a = await agentNode({
    lifetime: 3, remaining: 3, refresh: err(500, "internal"),
    onGet: (s) => (s.headers.authorization === "Bearer asst_buy1" && performance.now() > start + 2000 ? err(401, "unauthorized") : [200, secretBody()]),
  });
  const v = new AgentVault({ agentKey: "ass_key", addr: [a.url] });
  start = performance.now();
  await v.requestToken({ scopes: ["secrets:read:*"], ttl: "3s" });
  await sleep(1600);
  assert.equal((await v.getSecret(P)).value, "v");
  await sleep(600);
  assert.equal((await v.getSecret(P)).value, "v");
  await v.close();
  assert.equal(a.count("POST", "/v1/tokens") - a.count("POST", "/v1/tokens/refresh"), 2);
  assert.equal(a.seen.filter((s) => s.method === "GET").at(-1).headers.authorization, "Bearer asst_buy2");
});

test("a 401 on a live token is thrown, not retried, and the token dropped", async () => {
  const a = await agentNode({ lifetime: 600, remaining: 600, onGet: () => err(401, "unauthorized") });
  const v = new AgentVault({ agentKey: "ass_key", addr: [a.url] });
  await v.requestToken({ scopes: ["secrets:read:*"], ttl: "10m" });
  await assert.rejects(v.getSecret(P), UnauthorizedError);
  assert.equal(v.token, undefined);
  await v.close();
  assert.equal(a.count("GET", "/v1/secrets"), 1);
  assert.equal(a.count("POST", "/v1/tokens"), 1);
});

test("a replayed token issue is asked again with a new request id", async () => {
  const answers = [err(409, "replayed"), [200, tokenBody("asst_t", 600)]];
  const a = await fakeNode(() => answers.shift());
  const v = new AgentVault({ agentKey: "ass_key", addr: [a.url] });
  assert.equal((await v.requestToken({ scopes: ["secrets:read:*"], ttl: "10m" })).token, "asst_t");
  await v.close();
  assert.equal(a.seen.length, 2);
  assert.notEqual(a.seen[0].headers["x-ass-request-id"], a.seen[1].headers["x-ass-request-id"]);
  assert.equal(a.seen[0].headers.authorization, "Bearer ass_key");
});

test("rate limited everywhere throws RateLimitedError", async () => {
  const a = await fakeNode(() => err(429, "rate_limited"));
  const v = new AgentVault({ token: "asst_given", addr: [a.url], retryTimeoutMs: 300 });
  await assert.rejects(v.getSecret(P), RateLimitedError);
  await v.close();
  assert.ok(a.seen.length >= 2);
});

test("approval status without a token says what to do", async () => {
  const v = new AgentVault({ agentKey: "ass_key", addr: "http://127.0.0.1:1" });
  await assert.rejects(v.getApprovalStatus("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"), (e) => e instanceof ConfigurationError && /requestToken/.test(e.message));
  await v.close();
});

test("a failing refresh is not tried on every call", async () => {
  const a = await agentNode({ lifetime: 10, remaining: 10, refresh: err(500, "internal") });
  const v = new AgentVault({ agentKey: "ass_key", addr: [a.url] });
  await v.requestToken({ scopes: ["secrets:read:*"], ttl: "10s" });
  await sleep(5100);
  for (let i = 0; i < 20; i++) {
    assert.equal((await v.getSecret(P)).value, "v");
    await sleep(25);
  }
  await v.close();
  assert.equal(a.count("POST", "/v1/tokens/refresh"), 1);
});

test("a load balancer's own 503 is retried, not a gateway's 504", async () => {
  const { UnavailableError } = await import("agentsecretstore");
  const lb = await fakeNode(() => [503, { oops: "no backend" }]);
  const b = await fakeNode(() => [200, secretBody()]);
  const gw = await fakeNode(() => [504, { oops: "gateway timeout" }]);
  const v1 = new AgentVault({ token: "asst_given", addr: [lb.url, b.url] });
  assert.equal((await v1.getSecret(P)).value, "v");
  await v1.close();
  const v2 = new AgentVault({ token: "asst_given", addr: [gw.url, b.url] });
  await assert.rejects(v2.getSecret(P), (e) => e instanceof UnavailableError && e.code === "http_504");
  await v2.close();
  assert.deepEqual([lb.seen.length, gw.seen.length, b.seen.length], [1, 1, 1]);
});
