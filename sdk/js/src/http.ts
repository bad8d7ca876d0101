/** One HTTP/1.1 request to one node over `node:https` (with the cluster CA through the
 * agent's `ca` option) or `node:http`; keep-alive agents per vault. No dependency. */

import * as http from "node:http";
import * as https from "node:https";

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface Agents {
  http: http.Agent;
  https: https.Agent;
}

export function makeAgents(ca: string | Buffer | undefined): Agents {
  return {
    http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 32, ...(ca ? { ca } : {}) }),
  };
}

export class HttpFailure extends Error {
  constructor(message: string, readonly timedOut: boolean, readonly certificate = false) {
    super(message);
  }
}

const CERT_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER/;

export function send(
  agents: Agents,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  timeoutMs: number,
  connectTimeoutMs: number,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === "https:" ? https : http;
    const agent = url.protocol === "https:" ? agents.https : agents.http;
    const h: Record<string, string> = { ...headers };
    if (body) {
      h["content-type"] = "application/json";
      h["content-length"] = String(body.length);
    }
    let done = false;
    const finish = (err: HttpFailure | null, ans?: RawAnswer): void => {
      if (done) return;
      done = true;
      clearTimeout(total);
      clearTimeout(connect);
      if (err) reject(err);
      else resolve(ans!);
    };
    const req = mod.request(url, { method, headers: h, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", (e) => finish(new HttpFailure(`reading the answer: ${e.message}`, false)));
    });
    const total = setTimeout(() => {
      finish(new HttpFailure(`timed out after ${timeoutMs} ms`, true));
      req.destroy();
    }, timeoutMs);
    const connect = setTimeout(() => {
      finish(new HttpFailure(`cannot connect within ${connectTimeoutMs} ms`, true));
      req.destroy();
    }, connectTimeoutMs);
    req.on("socket", (sock) => {
      const connected = (): void => clearTimeout(connect);
      // A pooled socket is connected already: listening for a connect that never comes
      // would add a listener per request to a kept-alive socket (a leak in a long-lived agent).
      if (!sock.connecting && !(sock as { pending?: boolean }).pending) connected();
      else sock.once(url.protocol === "https:" ? "secureConnect" : "connect", connected);
    });
    req.on("error", (e: NodeJS.ErrnoException) => {
      const cert = CERT_CODES.test(e.code ?? "");
      const hint = cert
        ? " (the node's certificate is not signed by a CA this client trusts, or does not name this host: pass caCert or set ASS_CACERT, e.g. DIR/tls/ca.pem of `ass-node dev`)"
        : "";
      finish(new HttpFailure(`${e.code ?? "error"}: ${e.message}${hint}`, false, cert));
    });
    if (body) req.write(body);
    req.end();
  });
}
