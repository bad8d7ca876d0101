// The SDK against the live 3-node dev cluster of the global setup (run.mjs), TLS with its
// dev CA. Each test makes its own agents and paths.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";

import {
  AgentVault,
  AgentVaultError,
  ApprovalRequiredError,
  InvalidPathError,
  InvalidScopeError,
  InvalidTtlError,
  NotFoundError,
  ScopeDeniedError,
  TransportError,
  TtlTooLongError,
  UnauthorizedError,
} from "agentsecretstore";
import { Cluster } from "./cluster.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const cluster = Cluster.attach(JSON.parse(process.env.ASS_TEST_CLUSTER ?? "null") ?? (() => { throw new Error("run through test/run.mjs (npm test)"); })());
const APPROVER = "security@company.com";
const uniq = (p) => `${p}${randomUUID().slice(0, 8)}`;
const opts = () => ({ addr: cluster.addrs, caCert: cluster.caFile });
let approverKey;

// The guide's approval example in the JS SDK's idiom; README.md shows the same text.
const GUIDE_SNIPPET = `\
import { AgentVault, ApprovalRequiredError } from "agentsecretstore";
const vault = new AgentVault({ agentKey: process.env.ASS_AGENT_KEY });
const token = await vault.requestToken({ scopes: ["secrets:read:production/gemini/*"], ttl: "1h" });
try {
  const secret = await vault.getSecret("production/stripe/STRIPE_SECRET_KEY");
} catch (e) {
  if (!(e instanceof ApprovalRequiredError)) throw e;
  console.log(\`Approval required: \${e.approvalId}\`);
  const status = await vault.getApprovalStatus(e.approvalId);
}
`;

before(async () => {
  approverKey = await cluster.createAgent(["approvals:decide"], APPROVER);
  // The policy the tests need, set explicitly (not the cluster's default).
  await cluster.setApprovalPolicy({
    tiers: { critical: { required_approvals: 1, timeout_hours: 24 } },
    approvers: [APPROVER],
    grant_hours: 1,
  });
});

test("the guide's snippet runs verbatim (ESM top-level await) and prints the approval id", async () => {
  const key = await cluster.createAgent(["secrets:read:production/gemini/*", "secrets:read:production/stripe/*"]);
  await cluster.put("production/stripe/STRIPE_SECRET_KEY", "sk_live_guide_js", "critical", "api_key");
  const file = join(here, `.guide-snippet-${randomUUID()}.mjs`);
  writeFileSync(file, GUIDE_SNIPPET);
  const saved = { ...process.env };
  Object.assign(process.env, { ASS_AGENT_KEY: key, ASS_ADDR: cluster.addrs.join(","), ASS_CACERT: cluster.caFile });
  delete process.env.ASS_TOKEN;
  const printed = [];
  const log = console.log;
  console.log = (...a) => printed.push(a.join(" "));
  try {
    await import(file);
  } finally {
    console.log = log;
    rmSync(file);
    for (const k of ["ASS_AGENT_KEY", "ASS_ADDR", "ASS_CACERT"]) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
  }
  console.log(`--- guide snippet output ---\n${printed.join("\n")}\n---`);
  assert.equal(printed.length, 1);
  const m = /^Approval required: ([0-9a-f-]{36})$/.exec(printed[0]);
  assert.ok(m, printed[0]);
  const a = await cluster.call("GET", `/v1/approvals/${m[1]}`);
  assert.equal(a.status, "pending");
  assert.equal(a.path, "production/stripe/STRIPE_SECRET_KEY");
  assert.ok(readFileSync(join(here, "..", "README.md"), "utf8").includes(GUIDE_SNIPPET), "README shows the same snippet");
});

test("an approval-gated read throws ApprovalRequiredError, a second identity approves, the read succeeds", async () => {
  const path = `production/${uniq("pay")}/SIGNING_KEY`;
  await cluster.put(path, "sig-js-1", "critical");
  const key = await cluster.createAgent([`secrets:read:${path}`]);
  const vault = new AgentVault({ agentKey: key, ...opts() });
  let id;
  try {
    await vault.getSecret(path, { reason: "payout run 42" });
    assert.fail("no approval asked");
  } catch (e) {
    assert.ok(e instanceof ApprovalRequiredError, String(e));
    assert.equal(e.code, "approval_required");
    assert.equal(e.status, 403);
    assert.ok(e.requestId);
    id = e.approvalId;
  }
  const pending = await vault.getApprovalStatus(id);
  assert.equal(pending.status, "pending");
  assert.equal(pending.reason, "payout run 42");
  await assert.rejects(vault.getSecret(path), (e) => e instanceof ApprovalRequiredError && e.approvalId === id);

  const approver = new AgentVault({ agentKey: approverKey, ...opts() });
  await approver.requestToken({ scopes: ["approvals:decide"], ttl: "15m" });
  assert.ok((await approver.listApprovals()).some((a) => a.id === id));
  const decided = await approver.approve(id, { comment: "ok for the payout" });
  assert.equal(decided.status, "approved");
  assert.equal(decided.approvals[0].approver, APPROVER);
  await approver.close();

  const done = await vault.waitForApproval(id, { timeoutMs: 30000, pollIntervalMs: 500 });
  assert.equal(done.status, "approved");
  const s = await vault.getSecret(path);
  assert.deepEqual([s.value, s.version, s.tier], ["sig-js-1", 1, "critical"]);
  await vault.close();
});

test("a 6-second token is refreshed inside its margin and reads never fail", async () => {
  const path = `dev/${uniq("refresh")}/KEY`;
  await cluster.put(path, "v-refresh");
  const key = await cluster.createAgent([`secrets:read:${path}`]);
  const events = [];
  const vault = new AgentVault({ agentKey: key, ...opts(), logger: { info: (_m, f) => { if (f?.event === "token_refresh") events.push(f); } } });
  const tok = await vault.requestToken({ scopes: [`secrets:read:${path}`], ttl: "6s" });
  const accessors = [tok.accessor];
  const end = performance.now() + 14000;
  while (performance.now() < end) {
    assert.equal((await vault.getSecret(path)).value, "v-refresh");
    if (vault.token.accessor !== accessors.at(-1)) accessors.push(vault.token.accessor);
    await new Promise((r) => setTimeout(r, 100));
  }
  await vault.close();
  const since = events.map((e) => (e.sinceMarginMs / 1000).toFixed(3));
  const left = events.map((e) => (e.beforeExpiryMs / 1000).toFixed(1));
  console.log(`refreshes: ${events.length}; seconds from the expiry margin to the refresh: ${since.join(", ")}; seconds left before expiry: ${left.join(", ")}`);
  assert.ok(events.length >= 2, `${events.length} refreshes`);
  assert.ok(new Set(accessors).size >= 3, accessors.join(","));
  assert.ok(events.every((e) => e.sinceMarginMs >= 0 && e.sinceMarginMs < 1000), since.join(","));
  assert.ok(events.every((e) => e.beforeExpiryMs > 1500), left.join(","));
});

test("revoke makes the next call fail with UnauthorizedError", async () => {
  const path = `dev/${uniq("revoke")}/KEY`;
  await cluster.put(path, "v-revoke");
  const name = uniq("revoker-");
  const key = await cluster.createAgent([`secrets:read:${path}`], name);
  const vault = new AgentVault({ agentKey: key, ...opts() });
  const tok = await vault.requestToken({ scopes: [`secrets:read:${path}`], ttl: "10m" });
  assert.equal((await vault.getSecret(path)).value, "v-revoke");
  await vault.revokeToken();
  const old = new AgentVault({ token: tok.token, ...opts() });
  await assert.rejects(old.getSecret(path), (e) => e instanceof UnauthorizedError && e.code === "unauthorized" && e.status === 401);
  await old.close();
  // Revoked behind the SDK's back: the next call fails with the right error.
  const tok2 = await vault.requestToken({ scopes: [`secrets:read:${path}`], ttl: "10m" });
  await cluster.call("POST", `/v1/tokens/${tok2.accessor}/revoke`);
  await assert.rejects(vault.getSecret(path), (e) => e instanceof UnauthorizedError && e.status === 401 && !!e.requestId);
  // The dead token was dropped: the agent key buys a new one.
  assert.equal((await vault.getSecret(path)).value, "v-revoke");
  // A revoked agent: its tokens and its key stop working.
  await cluster.call("POST", `/v1/agents/${name}/revoke`);
  await assert.rejects(vault.getSecret(path), UnauthorizedError);
  await assert.rejects(vault.getSecret(path), UnauthorizedError);
  await vault.close();
});

test("bad input throws the matching error class", async () => {
  const key = await cluster.createAgent(["secrets:read:dev/*"]);
  const vault = new AgentVault({ agentKey: key, ...opts() });
  for (const bad of ["noslash", "dev/../x", "dev//x", "dev/x/", "dev/bad key", "dev/x/versions", ""]) {
    await assert.rejects(vault.getSecret(bad), (e) => e instanceof InvalidPathError && e.code === "invalid_path", bad);
  }
  await assert.rejects(vault.listSecrets("bad prefix!"), InvalidPathError);
  await assert.rejects(vault.requestToken({ scopes: ["secrets:read:dev/*"], ttl: "48h" }),
    (e) => e instanceof TtlTooLongError && e instanceof InvalidTtlError && e.code === "ttl_too_long" && e.status === 400);
  await assert.rejects(vault.requestToken({ scopes: ["secrets:read:dev/*"], ttl: "soon" }), (e) => e instanceof InvalidTtlError && e.code === "invalid_ttl");
  for (const scope of ["secrets:read:dev/*/KEY", "bogus", "secrets:fly:dev/*", "secrets:read:"]) {
    await assert.rejects(vault.requestToken({ scopes: [scope], ttl: "1h" }), (e) => e instanceof InvalidScopeError && e.status === 400, scope);
  }
  await assert.rejects(vault.requestToken({ scopes: ["secrets:read:production/*"], ttl: "1h" }), (e) => e instanceof ScopeDeniedError && e.status === 403);
  await assert.rejects(vault.getSecret(`dev/${uniq("missing")}/KEY`), (e) => e instanceof NotFoundError && e.code === "not_found" && !!e.requestId);
  await vault.close();
});

test("writes, lists and versioned reads buy minimum-scope tokens", async () => {
  const ns = uniq("w");
  const key = await cluster.createAgent([`secrets:write:${ns}/*`, `secrets:read:${ns}/*`, `secrets:list:${ns}/*`]);
  const vault = new AgentVault({ agentKey: key, ...opts() });
  const w1 = await vault.setSecret(`${ns}/db/PASSWORD`, "pw-1", { type: "password", tier: "sensitive" });
  const w2 = await vault.setSecret(`${ns}/db/PASSWORD`, "pw-2", { cas: 1 });
  assert.deepEqual([w1.version, w2.version], [1, 2]);
  assert.ok(w2.index > w1.index);
  const listed = await vault.listSecrets(`${ns}/`);
  assert.deepEqual(listed.map((m) => [m.path, m.latestVersion]), [[`${ns}/db/PASSWORD`, 2]]);
  const s = await vault.getSecret(`${ns}/db/PASSWORD`);
  assert.deepEqual([s.value, s.version, s.type, s.tier], ["pw-2", 2, "password", "sensitive"]);
  assert.equal((await vault.getSecret(`${ns}/db/PASSWORD`, { version: 1 })).value, "pw-1");
  assert.ok(!String(vault).includes("pw-"));
  await vault.close();
});

test("no secret value, token or key in messages, inspect, JSON or log lines", async () => {
  const ns = uniq("hyg");
  const value = `VALUE-${randomUUID()}`;
  const critical = `${ns}/pay/KEY`;
  await cluster.put(critical, `CRIT-${randomUUID()}`, "critical");
  const key = await cluster.createAgent([`secrets:*:${ns}/*`]);
  const lines = [];
  const logger = { debug: (m, f) => lines.push(m + JSON.stringify(f ?? {})), info: (m, f) => lines.push(m + JSON.stringify(f ?? {})), warn: (m, f) => lines.push(m + JSON.stringify(f ?? {})) };
  const shown = [];
  const note = (x) => shown.push(inspect(x, { depth: 5, showHidden: true }), String(x), JSON.stringify(x) ?? "", x instanceof Error ? `${x.message} ${x.stack}` : "");
  const tokens = [];
  const vault = new AgentVault({ agentKey: key, ...opts(), logger });
  const t = await vault.requestToken({ scopes: [`secrets:*:${ns}/*`], ttl: "10m" });
  tokens.push(t.token);
  note(t);
  note(await vault.setSecret(`${ns}/db/PW`, value));
  const s = await vault.getSecret(`${ns}/db/PW`);
  assert.equal(s.value, value);
  note(s);
  note(await vault.listSecrets(`${ns}/`));
  for (const call of [() => vault.getSecret(critical), () => vault.requestToken({ scopes: ["secrets:read:elsewhere/*"], ttl: "1h" })]) {
    try { await call(); } catch (e) { assert.ok(e instanceof AgentVaultError); note(e); }
  }
  note(vault);
  await vault.revokeToken();
  const old = new AgentVault({ token: t.token, ...opts(), logger });
  note(old);
  try { await old.setSecret(`${ns}/db/PW`, value); } catch (e) { assert.ok(e instanceof UnauthorizedError); note(e); }
  const dead = new AgentVault({ agentKey: key, addr: "https://127.0.0.1:1", caCert: cluster.caFile, retryTimeoutMs: 300, logger });
  try { await dead.setSecret(`${ns}/db/PW`, value); } catch (e) { assert.ok(e instanceof TransportError); note(e); }
  note(dead);
  await Promise.all([vault.close(), old.close(), dead.close()]);
  assert.ok(lines.length > 3, "the run was logged");
  const all = [...lines, ...shown].join("\n");
  for (const secret of [key, value, ...tokens, cluster.rootToken]) assert.ok(!all.includes(secret), "a secret leaked");
  assert.ok(all.includes("<redacted>"));
});

test("the SDK is versioned with the node it speaks to", async () => {
  const { VERSION } = await import("agentsecretstore");
  const { request } = await import("./cluster.mjs");
  const st = await request(cluster.ca, "GET", `${cluster.addrs[0]}/v1/sys/status`);
  assert.equal(st.json.version, VERSION);
  const pkg = JSON.parse(readFileSync(join(here, "..", "package.json"), "utf8"));
  assert.equal(pkg.version, VERSION);
  const cargo = readFileSync(join(here, "..", "..", "..", "Cargo.toml"), "utf8");
  assert.equal(/^version = "([^"]+)"/m.exec(cargo)?.[1], VERSION);
});

test("an untrusted certificate fails fast with a hint", async () => {
  const vault = new AgentVault({ agentKey: "ass_x", addr: cluster.addrs, env: {} });
  const t0 = performance.now();
  await assert.rejects(vault.requestToken({ scopes: ["secrets:read:dev/*"], ttl: "1h" }),
    (e) => e instanceof TransportError && e.code === "transport" && e.message.includes("ASS_CACERT"));
  assert.ok(performance.now() - t0 < 3000);
  await vault.close();
});

test("a token allowlisted elsewhere throws IpNotAllowedError", async () => {
  const { IpNotAllowedError } = await import("agentsecretstore");
  const path = `dev/${uniq("ip")}/KEY`;
  await cluster.put(path, "v-ip");
  const key = await cluster.createAgent([`secrets:read:${path}`]);
  const vault = new AgentVault({ agentKey: key, ...opts() });
  const t = await vault.requestToken({ scopes: [`secrets:read:${path}`], ttl: "5m", ipAllowlist: ["10.9.9.9/32"] });
  assert.deepEqual([...t.ipAllowlist], ["10.9.9.9/32"]);
  await assert.rejects(vault.getSecret(path), (e) => e instanceof IpNotAllowedError && e.code === "ip_not_allowed" && e.status === 403);
  await vault.close();
});
