// Pure rules (no I/O): scope containment, paths, the refresh margin, scrubbing and the error
// mapping; and that the CommonJS build loads and works the same.

import assert from "node:assert/strict";
import * as http from "node:http";
import { createRequire } from "node:module";
import { test } from "node:test";

import * as sdk from "agentsecretstore";
import { checkPath, covers, listScope, refreshMarginMs, scopeWithin } from "../dist/rules.js";

test("scope containment follows the server's rule", () => {
  assert.ok(scopeWithin("secrets:read:production/gemini/KEY", "secrets:read:production/gemini/*"));
  assert.ok(scopeWithin("secrets:read:production/gemini/x/Y", "secrets:read:production/*"));
  assert.ok(scopeWithin("secrets:read:production/gemini/*", "secrets:read:production/*"));
  assert.ok(scopeWithin("secrets:write:a/b", "secrets:*:a/*"));
  assert.ok(scopeWithin("secrets:list:*", "secrets:list:*"));
  assert.ok(!scopeWithin("secrets:read:production/gemini", "secrets:read:production/gemini/*"));
  assert.ok(!scopeWithin("secrets:read:production/geminiX/K", "secrets:read:production/gemini/*"));
  assert.ok(!scopeWithin("secrets:read:*", "secrets:read:production/*"));
  assert.ok(!scopeWithin("secrets:write:production/a/b", "secrets:read:production/*"));
  assert.ok(!scopeWithin("approvals:decide", "secrets:*:*"));
  assert.ok(covers(["agents:manage", "approvals:decide"], "approvals:decide"));
  assert.equal(listScope("production/gem"), "secrets:list:production/*");
  assert.equal(listScope(""), "secrets:list:*");
});

test("paths are checked like the server checks them", () => {
  for (const ok of ["a/b", "production/stripe/STRIPE_SECRET_KEY", "dev/versions/K", "a.b/c-d_e"]) assert.equal(checkPath(ok), ok);
  for (const bad of ["a", "/a/b", "a/b/", "a//b", "a/./b", "a/../b", "a/b c", "a/b/versions", "a/é", "x/" + "y".repeat(600)]) {
    assert.throws(() => checkPath(bad), sdk.InvalidPathError, bad);
  }
});

test("the refresh margin is a fifth or a minute, at most half the lifetime", () => {
  assert.equal(refreshMarginMs(900_000), 180_000);
  assert.equal(refreshMarginMs(3_600_000), 720_000);
  assert.equal(refreshMarginMs(240_000), 60_000);
  assert.equal(refreshMarginMs(90_000), 45_000);
  assert.equal(refreshMarginMs(6_000), 3_000);
});

test("errors map by code, then by status, and never keep a credential", () => {
  const e = sdk.errorFromAnswer(403, "approval_required", "needs approval", { approvalId: "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", requestId: "r1" });
  assert.ok(e instanceof sdk.ApprovalRequiredError && e instanceof sdk.PermissionDeniedError && e instanceof sdk.AgentVaultError);
  assert.equal(e.approvalId, "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f");
  assert.equal(e.name, "ApprovalRequiredError");
  assert.ok(sdk.errorFromAnswer(400, "ttl_too_long", "m") instanceof sdk.InvalidTtlError);
  assert.ok(sdk.errorFromAnswer(503, "sealed", "m") instanceof sdk.UnavailableError);
  assert.ok(sdk.errorFromAnswer(409, "something_new", "m") instanceof sdk.ConflictError);
  assert.ok(sdk.errorFromAnswer(502, "http_502", "m") instanceof sdk.ServerError);
  const leaky = sdk.errorFromAnswer(400, "invalid_json", "bad asst_AAAAAAAAAAAAAAAA and ass_BBBBBBBBBBBB and hunter22", { secrets: ["hunter22"] });
  assert.equal(leaky.message, "bad <redacted> and <redacted> and <redacted>");
});

test("the CommonJS build loads and talks to a node like the ESM one", async () => {
  const require = createRequire(import.meta.url);
  const cjs = require("agentsecretstore");
  assert.equal(typeof cjs.AgentVault, "function");
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(sdk).sort());
  const srv = http.createServer((_req, res) => {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "not_found", message: "no secret at this path" }));
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const v = new cjs.AgentVault({ token: "asst_x", addr: `http://127.0.0.1:${srv.address().port}` });
  await assert.rejects(v.getSecret("a/b"), (e) => e instanceof cjs.NotFoundError && e.code === "not_found");
  await v.close();
  srv.closeAllConnections();
  await new Promise((r) => srv.close(r));
});
