// A live `ass-node dev` cluster for the tests: free ports (never the default 8201-8203), TLS
// with its dev CA, and an admin client (the root token) to make agents, secrets and policies.
// The binary is ASS_NODE_BIN, else the repository's target/debug/ass-node, else
// target/release/ass-node. The launcher and its nodes run in their own process group, which
// stop() kills (SIGTERM, then SIGKILL: dev nodes may ignore SIGTERM).

import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function nodeBinary() {
  if (process.env.ASS_NODE_BIN) return process.env.ASS_NODE_BIN;
  for (const p of ["target/debug/ass-node", "target/release/ass-node"]) {
    if (existsSync(join(REPO, p))) return join(REPO, p);
  }
  throw new Error("no ass-node binary: run `cargo build -p ass-node` or set ASS_NODE_BIN");
}

function portFree(port) {
  return new Promise((res) => {
    const s = net.createServer();
    s.once("error", () => res(false));
    s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
  });
}

async function freeBasePort(nodes) {
  const start = 40000 + ((process.pid * 13) % 15000);
  for (let base = start; base < start + 4000; base += 10) {
    let ok = true;
    for (let i = 0; i < nodes && ok; i++) ok = (await portFree(base + i)) && (await portFree(base + 100 + i));
    if (ok) return base;
  }
  throw new Error("no free ports for a dev cluster");
}

export function request(ca, method, url, { token, body, headers } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const h = { ...(headers ?? {}) };
    if (token) h.authorization = `Bearer ${token}`;
    if (data) { h["content-type"] = "application/json"; h["content-length"] = data.length; }
    const req = https.request(url, { method, headers: h, ca, agent: false, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, json, text });
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

class PortTaken extends Error {}

export class Cluster {
  static async start(nodes = 3) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await Cluster.#startOnce(nodes, attempt);
      } catch (e) {
        // Another run took the ports between our check and the bind: try further on.
        if (!(e instanceof PortTaken) || attempt >= 2) throw e;
      }
    }
  }

  static async #startOnce(nodes, attempt) {
    const c = new Cluster();
    c.dir = mkdtempSync(join(tmpdir(), "ass-sdk-js-"));
    c.basePort = (await freeBasePort(nodes)) + 10 * attempt;
    const log = openSync(join(c.dir, "launcher.log"), "w");
    c.proc = spawn(nodeBinary(), ["dev", "--dir", c.dir, "--nodes", String(nodes), "--base-port", String(c.basePort)],
      { stdio: ["ignore", log, log], detached: true });
    c.exited = false;
    c.proc.on("exit", () => { c.exited = true; });
    const deadline = Date.now() + 90000;
    for (;;) {
      if (c.exited) {
        const text = readFileSync(join(c.dir, "launcher.log"), "utf8");
        if (text.includes("is in use")) throw new PortTaken(text);
        throw new Error(`ass-node dev exited: ${text}`);
      }
      try {
        const info = JSON.parse(readFileSync(join(c.dir, "cluster.json"), "utf8"));
        if (info.root_token) { c.info = info; break; }
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error("the dev cluster did not start in time");
      await sleep(100);
    }
    c.rootToken = c.info.root_token;
    c.nodes = c.info.nodes;
    c.addrs = c.nodes.map((n) => n.api);
    c.caFile = join(c.dir, "tls", "ca.pem");
    c.ca = readFileSync(c.caFile);
    await c.waitUnsealed();
    return c;
  }

  /** What a test process needs to use a cluster started by the global setup. */
  describe() {
    return { dir: this.dir, rootToken: this.rootToken, nodes: this.nodes, addrs: this.addrs, caFile: this.caFile, pgid: this.proc.pid };
  }

  static attach(d) {
    const c = new Cluster();
    Object.assign(c, d);
    c.ca = readFileSync(d.caFile);
    return c;
  }

  async waitUnsealed(timeoutMs = 60000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const sts = await Promise.all(this.addrs.map((a) => request(this.ca, "GET", `${a}/v1/sys/status`)));
        if (sts.every((s) => s.json && !s.json.sealed) && sts.some((s) => s.json.leader_id)) return;
      } catch { /* not yet */ }
      await sleep(200);
    }
    throw new Error("the dev cluster did not unseal in time");
  }

  /** Index of the node whose health says it leads (200). */
  async leader() {
    for (let i = 0; i < 100; i++) {
      for (const [j, a] of this.addrs.entries()) {
        try {
          if ((await request(this.ca, "GET", `${a}/v1/sys/health`)).status === 200) return j;
        } catch { /* down */ }
      }
      await sleep(100);
    }
    throw new Error("no leader");
  }

  killNode(i) {
    process.kill(this.nodes[i].pid, "SIGKILL");
  }

  async call(method, path, body) {
    let last;
    for (let attempt = 0; attempt < 60; attempt++) {
      const a = this.addrs[attempt % this.addrs.length];
      let r;
      try {
        r = await request(this.ca, method, a + path, { token: this.rootToken, body, headers: { "x-ass-request-id": randomUUID() } });
      } catch { await sleep(200); continue; }
      if (r.status === 503) { last = r; await sleep(200); continue; }
      if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
      return r.json;
    }
    throw new Error(`${method} ${path}: ${last ? last.text : "no answer"}`);
  }

  async createAgent(scopes, name) {
    name = name ?? `agent-${randomUUID().slice(0, 10)}`;
    return (await this.call("POST", "/v1/agents", { name, scopes })).agent_key;
  }

  put(path, value, tier = "standard", type = "generic") {
    return this.call("PUT", `/v1/secrets/${path}`, { value, tier, type });
  }

  setApprovalPolicy(policy) {
    return this.call("PUT", "/v1/policy/approvals", { approval_policy: policy });
  }

  async stop() {
    const pgid = this.pgid ?? this.proc?.pid;
    const kill = (sig) => { try { process.kill(-pgid, sig); } catch { /* gone */ } };
    kill("SIGTERM");
    await sleep(1500);
    kill("SIGKILL"); // dev nodes may ignore SIGTERM (a known bug)
    for (const n of this.nodes ?? []) { try { process.kill(n.pid, "SIGKILL"); } catch { /* gone */ } }
  }
}
