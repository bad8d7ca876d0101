/**
 * `AgentVault`: the client of one Agent Secret Store cluster, for an agent holding an agent
 * key.
 *
 * ```text
 *  call ──> token covering the call's scope? ──no──> buy one with the agent key (single-flight)
 *             │ yes                                     │
 *             ▼                                         ▼
 *        within its refresh margin? ──yes──> POST /v1/tokens/refresh (one per token at a time)
 *             │ no                                │ 401 / expired: buy again with the agent key
 *             ▼                                   ▼
 *        send to addr[current] ──conn error / 429 / 503 / 504──> backoff, addr[current+1], …
 *             │ answer                                  (until retryTimeoutMs; writes keep one
 *             ▼                                          x-ass-request-id for every attempt)
 *        401 on a token past its expiry: buy again, send once more; other errors: throw
 * ```
 *
 * Tokens are refreshed on the next call once inside their margin; there is no timer. The
 * agent key is only sent to `POST /v1/tokens`. Nothing thrown or logged holds a value, a
 * token or a key.
 */

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { inspect } from "node:util";

import {
  AgentVaultError,
  ApprovalDeniedError,
  ApprovalExpiredError,
  ApprovalRequiredError,
  ApprovalWaitTimeoutError,
  ConfigurationError,
  DecodeError,
  TransportError,
  UnauthorizedError,
  errorFromAnswer,
  scrub,
} from "./errors.js";
import { Agents, HttpFailure, RawAnswer, makeAgents, send } from "./http.js";
import { Approval, Secret, SecretMetadata, Token, WriteResult, approvalFrom, metadataFrom } from "./models.js";
import * as rules from "./rules.js";

export const VERSION = "0.1.0";
export const DEFAULT_ADDR = "https://127.0.0.1:8201";
/** Lifetime of the tokens the SDK buys on its own (hardening practice 2). */
export const DEFAULT_TOKEN_TTL = "15m";
/** How long one call keeps trying other nodes on connection errors, 429, 503 and 504. */
export const DEFAULT_RETRY_TIMEOUT_MS = 15_000;
export const BACKOFF_FIRST_MS = 50;
export const BACKOFF_MAX_MS = 1_000;
/** Whether another node (or the same one a moment later) may do better: any 429 or 503 (the
 * node did not act on the request: ours, or a load balancer's), and our own 504 `timeout` (a
 * read index or min-index wait that ran out). */
export function retryable(status: number, code: string): boolean {
  return status === 429 || status === 503 || (status === 504 && code === "timeout");
}
const MAX_HELD = 64;

/** Where the SDK reports what it does (never a secret). Defaults to nothing. */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
}

export interface AgentVaultOptions {
  /** The agent key (`ass_…`); default `ASS_AGENT_KEY` when `token` is not given either. */
  agentKey?: string | undefined;
  /** A token to use as-is instead of an agent key; default `ASS_TOKEN`. */
  token?: string | undefined;
  /** Node URLs in failover order (array or comma-separated); default `ASS_ADDR`. */
  addr?: string | readonly string[] | undefined;
  /** The cluster CA: a PEM file path, or PEM text/bytes; default the file in `ASS_CACERT`. */
  caCert?: string | Buffer | undefined;
  /** Time one attempt on one node may take (default 30 s). */
  timeoutMs?: number | undefined;
  /** Time to connect to one node (default 3 s). */
  connectTimeoutMs?: number | undefined;
  /** How long one call keeps retrying and failing over (default 15 s). */
  retryTimeoutMs?: number | undefined;
  /** Lifetime of the tokens bought on the SDK's own (default `15m`). */
  tokenTtl?: string | undefined;
  logger?: Logger | undefined;
  /** Environment to read `ASS_*` from (default `process.env`). */
  env?: Record<string, string | undefined> | undefined;
}

export interface RequestTokenOptions {
  scopes: readonly string[];
  ttl?: string;
  ipAllowlist?: readonly string[];
}

class Held {
  info: Token;
  lifetimeMs = 0;
  expires: number | undefined;
  renewing: Promise<void> | null = null;
  /** After a refresh that failed for a passing reason, the next try waits until then. */
  retryAt = 0;
  constructor(info: Token, readonly ttl: string | undefined, readonly bought: boolean) {
    this.info = info;
    this.adopt(info);
  }
  adopt(info: Token): void {
    this.info = info;
    if (!info.expiresAt) {
      this.expires = undefined;
      return;
    }
    const remaining = info.ttlRemainingSecs * 1000;
    const issued = Date.parse(info.issuedAt);
    const expires = Date.parse(info.expiresAt);
    const lifetime = Number.isFinite(issued) && Number.isFinite(expires) ? expires - issued : remaining;
    this.lifetimeMs = Math.max(lifetime, remaining);
    this.expires = performance.now() + remaining;
  }
  get token(): string {
    return this.info.token;
  }
  get marginStarts(): number | undefined {
    return this.expires === undefined ? undefined : this.expires - rules.refreshMarginMs(this.lifetimeMs);
  }
  due(now: number): boolean {
    const m = this.marginStarts;
    return m !== undefined && now >= m && now >= this.retryAt;
  }
  expired(now: number, slackMs = 1000): boolean {
    return this.expires !== undefined && now >= this.expires - slackMs;
  }
}

interface SendOptions {
  bearer?: string | undefined;
  body?: unknown;
  query?: Record<string, string> | undefined;
  headers?: Record<string, string> | undefined;
  requestId?: string | undefined;
  extraSecrets?: readonly string[] | undefined;
}

type Data = Record<string, unknown>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Client of an Agent Secret Store cluster. `close()` it when done. */
export class AgentVault {
  readonly #agentKey: string | undefined;
  readonly #addrs: string[];
  #current = 0;
  readonly #retryTimeoutMs: number;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #tokenTtl: string;
  readonly #log: Logger;
  #held: Held[] = [];
  readonly #buying = new Map<string, Promise<Held>>();
  readonly #approvalTokens = new Map<string, Held>();
  readonly #agents: Agents;
  #closed = false;

  constructor(opts: AgentVaultOptions = {}) {
    const env = opts.env ?? process.env;
    let agentKey = opts.agentKey;
    let token = opts.token;
    if (!agentKey && !token) {
      token = env.ASS_TOKEN || undefined;
      if (!token) agentKey = env.ASS_AGENT_KEY || undefined;
    }
    this.#agentKey = agentKey || undefined;
    this.#addrs = addresses(opts.addr ?? env.ASS_ADDR ?? DEFAULT_ADDR);
    this.#retryTimeoutMs = opts.retryTimeoutMs ?? DEFAULT_RETRY_TIMEOUT_MS;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 3_000;
    this.#tokenTtl = opts.tokenTtl ?? DEFAULT_TOKEN_TTL;
    this.#log = opts.logger ?? {};
    if (token) this.#held.push(new Held(given(token), undefined, false));
    this.#agents = makeAgents(loadCa(opts.caCert, env.ASS_CACERT));
  }

  // ---- plumbing -------------------------------------------------------------------------

  toString(): string {
    return `AgentVault(${this.#addrs.join(",")}, agentKey=${this.#agentKey ? "<redacted>" : "none"}, tokens=[${this.#held.map((h) => h.info.toString()).join(", ")}])`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  toJSON(): Data {
    return { addresses: this.#addrs, agentKey: this.#agentKey ? "<redacted>" : null, tokens: this.#held.map((h) => h.info.toJSON()) };
  }

  /** Closes the keep-alive connections. Tokens stay valid until they expire: call
   * {@link revokeToken} first to end them now. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  get addresses(): readonly string[] {
    return [...this.#addrs];
  }

  /** The node calls go to first: the last one that answered. */
  get currentAddress(): string {
    return this.#addrs[this.#current % this.#addrs.length]!;
  }

  /** The token {@link requestToken} bought last (or the one given), if any. */
  get token(): Token | undefined {
    return this.#held[0]?.info;
  }

  #secrets(): string[] {
    const out = this.#held.map((h) => h.token);
    if (this.#agentKey) out.push(this.#agentKey);
    return out;
  }

  async #send(method: string, path: string, o: SendOptions = {}): Promise<{ data: Data; requestId: string | undefined }> {
    if (this.#closed) throw new ConfigurationError("this AgentVault is closed", { code: "config" });
    const write = method === "POST" || method === "PUT" || method === "DELETE";
    const requestId = o.requestId ?? (write ? randomUUID() : undefined);
    const headers: Record<string, string> = { "user-agent": `agentsecretstore-js/${VERSION}`, ...(o.headers ?? {}) };
    if (o.bearer) headers.authorization = `Bearer ${o.bearer}`;
    if (requestId) headers["x-ass-request-id"] = requestId;
    const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const secrets = [...this.#secrets(), ...(o.extraSecrets ?? []), ...(o.bearer ? [o.bearer] : [])];
    const n = this.#addrs.length;
    const start = this.#current;
    const deadline = performance.now() + this.#retryTimeoutMs;
    let attempt = 0;
    for (;;) {
      const idx = (start + attempt) % n;
      const addr = this.#addrs[idx]!;
      const url = new URL(addr + path);
      for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
      let last: AgentVaultError;
      let ans: RawAnswer | undefined;
      try {
        ans = await send(this.#agents, url, method, headers, body, this.#timeoutMs, this.#connectTimeoutMs);
      } catch (e) {
        const msg = e instanceof HttpFailure || e instanceof Error ? e.message : String(e);
        last = new TransportError(scrub(`${addr}: ${msg}`, secrets), { code: "transport", requestId });
        // Every address refused our trust of its certificate: waiting won't help.
        if (e instanceof HttpFailure && e.certificate && attempt + 1 >= n) throw last;
      }
      if (ans) {
        const rid = headerOf(ans, "x-ass-request-id") ?? requestId;
        this.#log.debug?.(`${method} ${path} on ${addr}: HTTP ${ans.status}`, { requestId: rid });
        if (ans.status >= 200 && ans.status < 300) {
          this.#current = idx;
          let data: unknown;
          try {
            data = JSON.parse(ans.body.toString("utf8"));
          } catch {
            throw new DecodeError(`${addr}: the answer to ${method} ${path} is not JSON`, { code: "decode", status: ans.status, requestId: rid });
          }
          return { data: (data && typeof data === "object" ? data : { value: data }) as Data, requestId: rid };
        }
        last = answerError(ans, rid, secrets);
        if (!retryable(ans.status, last.code)) {
          this.#current = idx;
          throw last;
        }
      }
      attempt += 1;
      const left = deadline - performance.now();
      if (left <= 10) {
        if (n > 1) this.#current = (start + attempt) % n;
        throw last!;
      }
      const delay = Math.min(BACKOFF_FIRST_MS * 2 ** (attempt - 1), BACKOFF_MAX_MS, left);
      this.#log.debug?.(`${method} ${path}: ${last!.code} on ${addr}; retrying on ${this.#addrs[(start + attempt) % n]} in ${Math.round(delay)} ms`);
      await sleep(delay);
    }
  }

  // ---- tokens ---------------------------------------------------------------------------

  async #issue(scopes: readonly string[], ttl: string, ipAllowlist?: readonly string[]): Promise<Token> {
    if (!this.#agentKey) {
      throw new ConfigurationError("no agent key: pass new AgentVault({ agentKey }) or set ASS_AGENT_KEY to buy tokens", { code: "config" });
    }
    const body: Data = { scopes: [...scopes], ttl };
    if (ipAllowlist && ipAllowlist.length) body.ip_allowlist = [...ipAllowlist];
    for (let replays = 0; ; replays++) {
      try {
        const { data } = await this.#send("POST", "/v1/tokens", { bearer: this.#agentKey, body });
        return new Token(data);
      } catch (e) {
        // The first attempt's answer was lost and its token can't be shown again: nobody
        // holds it and it expires on its own. Ask again with a new request id.
        if (e instanceof AgentVaultError && e.code === "replayed" && replays === 0) continue;
        throw e;
      }
    }
  }

  #keep(held: Held, primary: boolean): Held {
    if (primary) this.#held.unshift(held);
    else this.#held.push(held);
    const now = performance.now();
    this.#held = this.#held.filter((h) => h === held || !h.expired(now, 0)).slice(0, MAX_HELD);
    return held;
  }

  /**
   * Buys a token with the agent key (`POST /v1/tokens`) holding `scopes` (within the agent's)
   * for `ttl` (`15m`, `1h`; at most the policy's `max_ttl`), usable only from `ipAllowlist` if
   * given. Later calls whose scope it covers use it; it is refreshed before it expires.
   */
  async requestToken(opts: RequestTokenOptions): Promise<Token> {
    const scopes = typeof opts.scopes === "string" ? [opts.scopes as string] : opts.scopes;
    const ttl = opts.ttl ?? "1h";
    const info = await this.#issue(scopes, ttl, opts.ipAllowlist);
    this.#keep(new Held(info, ttl, true), true);
    return info;
  }

  #find(needed: string | undefined): Held | undefined {
    return this.#held.find((h) => needed === undefined || !h.bought || rules.covers(h.info.scopes, needed));
  }

  async #tokenFor(needed: string | undefined): Promise<Held> {
    const found = this.#find(needed);
    if (found) return found;
    if (needed !== undefined && this.#agentKey) {
      let p = this.#buying.get(needed);
      if (!p) {
        p = (async () => {
          const again = this.#find(needed);
          if (again) return again;
          const info = await this.#issue([needed], this.#tokenTtl);
          this.#log.debug?.(`bought token ${info.accessor} for ${needed} (${this.#tokenTtl})`);
          return this.#keep(new Held(info, this.#tokenTtl, true), false);
        })().finally(() => this.#buying.delete(needed));
        this.#buying.set(needed, p);
      }
      return p;
    }
    if (this.#held[0]) return this.#held[0];
    throw new ConfigurationError("no credential: pass new AgentVault({ agentKey }) or set ASS_AGENT_KEY", { code: "config" });
  }

  /** Refreshes `held`, or buys it again when it can no longer refresh itself. Concurrent
   * callers share one renewal. */
  #renew(held: Held, seen: string): Promise<void> {
    if (held.token !== seen) return Promise.resolve();
    if (!held.renewing) {
      held.renewing = this.#doRenew(held).finally(() => {
        held.renewing = null;
      });
    }
    return held.renewing;
  }

  async #doRenew(held: Held): Promise<void> {
    const now = performance.now();
    const marginAt = held.marginStarts;
    let info: Token;
    let how: string;
    try {
      if (held.expired(now)) throw new UnauthorizedError("token expired", { code: "unauthorized", status: 401 });
      const { data } = await this.#send("POST", "/v1/tokens/refresh", { bearer: held.token });
      info = new Token(data);
      how = "refreshed";
    } catch (e) {
      if (!(e instanceof AgentVaultError)) throw e;
      const dead = e.status === 401 || held.expired(performance.now());
      if (!dead) {
        // Keep using it; try again a little later, not on every call.
        held.retryAt = performance.now() + Math.min(5000, Math.max(1000, held.lifetimeMs / 20));
        this.#log.warn?.(`token ${held.info.accessor}: refresh failed (${e.code}); using it until it expires`);
        return;
      }
      if (!(held.bought && held.ttl && this.#agentKey)) throw e;
      info = await this.#issue(held.info.scopes, held.ttl, held.info.ipAllowlist.length ? held.info.ipAllowlist : undefined);
      how = "bought again";
    }
    const old = held.info.accessor;
    const oldExpires = held.expires;
    held.adopt(info);
    const done = performance.now();
    const sinceMarginMs = marginAt === undefined ? undefined : done - marginAt;
    const beforeExpiryMs = oldExpires === undefined ? undefined : oldExpires - done;
    this.#log.info?.(
      `token ${old} ${how} as ${info.accessor}: ${sinceMarginMs === undefined ? "?" : (sinceMarginMs / 1000).toFixed(3)} s after its refresh margin began, ${beforeExpiryMs === undefined ? "?" : (beforeExpiryMs / 1000).toFixed(1)} s before it expired`,
      { event: "token_refresh", oldAccessor: old, newAccessor: info.accessor, sinceMarginMs, beforeExpiryMs },
    );
  }

  async #authed(method: string, path: string, needed: string | undefined, o: SendOptions = {}): Promise<{ data: Data; held: Held }> {
    const held = await this.#tokenFor(needed);
    if (held.due(performance.now())) await this.#renew(held, held.token);
    const sent = held.token;
    try {
      const { data } = await this.#send(method, path, { ...o, bearer: sent });
      return { data, held };
    } catch (e) {
      if (!(e instanceof UnauthorizedError)) throw e;
      if (held.bought && held.ttl && this.#agentKey && held.expired(performance.now())) {
        // A 401 on a token past its expiry (the process slept through its margin): buy it
        // again and try once more.
        await this.#renew(held, sent);
        const { data } = await this.#send(method, path, { ...o, bearer: held.token });
        return { data, held };
      }
      // Revoked (or unknown): forget it, so the next call buys a new one if it can.
      if (held.token === sent) this.#held = this.#held.filter((h) => h !== held);
      throw e;
    }
  }

  // ---- secrets --------------------------------------------------------------------------

  /**
   * `GET /v1/secrets/{path}`: the latest version (or `version`) with its value. Without a
   * token covering `secrets:read:{path}` one is bought for exactly that path. A sensitive or
   * critical secret may throw {@link ApprovalRequiredError} (`reason` is recorded on it).
   */
  async getSecret(path: string, opts: { version?: number; reason?: string } = {}): Promise<Secret> {
    rules.checkPath(path);
    const query = opts.version !== undefined ? { version: String(Math.trunc(opts.version)) } : undefined;
    const headers = opts.reason ? { "x-ass-reason": rules.checkReason(opts.reason) } : undefined;
    const scope = rules.readScope(path);
    try {
      const { data } = await this.#authed("GET", `/v1/secrets/${path}`, scope, { query, headers });
      return new Secret(data);
    } catch (e) {
      if (e instanceof ApprovalRequiredError || (e instanceof ApprovalDeniedError && e.approvalId)) {
        const h = this.#find(scope);
        if (h) this.#approvalTokens.set((e as ApprovalRequiredError).approvalId, h);
      }
      throw e;
    }
  }

  /** `PUT /v1/secrets/{path}`: a new version. Retries carry one request id (applied once). */
  async setSecret(
    path: string,
    value: string,
    opts: { type?: string; tier?: "standard" | "sensitive" | "critical"; cas?: number } = {},
  ): Promise<WriteResult> {
    rules.checkPath(path);
    if (typeof value !== "string") throw new ConfigurationError("a secret value is a string", { code: "config" });
    const body: Data = { value };
    if (opts.type !== undefined) body.type = opts.type;
    if (opts.tier !== undefined) body.tier = opts.tier;
    if (opts.cas !== undefined) body.cas = Math.trunc(opts.cas);
    const { data } = await this.#authed("PUT", `/v1/secrets/${path}`, rules.writeScope(path), { body, extraSecrets: [value] });
    return { path: String(data.path), version: Number(data.version), index: Number(data.index) };
  }

  /** `GET /v1/secrets?prefix=`: metadata (never values) of what this agent may list. */
  async listSecrets(prefix = ""): Promise<SecretMetadata[]> {
    rules.checkPrefix(prefix);
    const { data } = await this.#authed("GET", "/v1/secrets", rules.listScope(prefix), { query: prefix ? { prefix } : undefined });
    return Array.isArray(data.secrets) ? data.secrets.map((d) => metadataFrom(d as Data)) : [];
  }

  // ---- approvals ------------------------------------------------------------------------

  /** `GET /v1/approvals/{id}` with the token the read used (no extra scope needed). */
  async getApprovalStatus(approvalId: string): Promise<Approval> {
    rules.checkApprovalId(approvalId);
    let held = this.#approvalTokens.get(approvalId);
    if (!held || !this.#held.includes(held)) {
      if (!this.#held[0]) {
        throw new ConfigurationError(
          "getApprovalStatus asks with a token of the requesting agent, and this vault holds none: call requestToken (or the read) first",
          { code: "config" },
        );
      }
      held = this.#held[0];
    }
    if (held.due(performance.now())) await this.#renew(held, held.token);
    const { data } = await this.#send("GET", `/v1/approvals/${approvalId}`, { bearer: held.token });
    return approvalFrom(data);
  }

  /** Polls {@link getApprovalStatus} until the request is decided; returns it approved, or
   * throws {@link ApprovalDeniedError}, {@link ApprovalExpiredError} or
   * {@link ApprovalWaitTimeoutError} after `timeoutMs` (default 5 minutes). */
  async waitForApproval(approvalId: string, opts: { timeoutMs?: number; pollIntervalMs?: number } = {}): Promise<Approval> {
    const timeoutMs = opts.timeoutMs ?? 300_000;
    const poll = opts.pollIntervalMs ?? 2_000;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const a = await this.getApprovalStatus(approvalId);
      if (a.status === "approved") return a;
      if (a.status === "denied") throw new ApprovalDeniedError(`approval request ${approvalId} was denied`, { code: "approval_denied", approvalId });
      if (a.status === "expired") throw new ApprovalExpiredError(`approval request ${approvalId} timed out`, { code: "approval_expired", approvalId });
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new ApprovalWaitTimeoutError(`approval request ${approvalId} is still pending after ${timeoutMs} ms`, { code: "approval_wait_timeout", approvalId });
      }
      await sleep(Math.min(poll, left));
    }
  }

  /** `POST /v1/approvals/{id}/approve`, for an approver (an agent named by e-mail in the
   * policy, whose token holds `approvals:decide`). */
  approve(approvalId: string, opts: { comment?: string } = {}): Promise<Approval> {
    return this.#decide(approvalId, "approve", opts.comment);
  }

  /** `POST /v1/approvals/{id}/deny`, for an approver. */
  deny(approvalId: string, opts: { comment?: string } = {}): Promise<Approval> {
    return this.#decide(approvalId, "deny", opts.comment);
  }

  async #decide(approvalId: string, action: string, comment: string | undefined): Promise<Approval> {
    rules.checkApprovalId(approvalId);
    const { data } = await this.#authed("POST", `/v1/approvals/${approvalId}/${action}`, "approvals:decide", { body: comment ? { comment } : {} });
    return approvalFrom(data);
  }

  /** `GET /v1/approvals?status=`, for an approver. */
  async listApprovals(opts: { status?: string } = {}): Promise<Approval[]> {
    const { data } = await this.#authed("GET", "/v1/approvals", "approvals:decide", { query: { status: opts.status ?? "pending" } });
    return Array.isArray(data.approvals) ? data.approvals.map((d) => approvalFrom(d as Data)) : [];
  }

  /** Revokes every token this vault holds and forgets them; with an agent key, a later call
   * buys a new token. */
  async revokeToken(): Promise<void> {
    const held = this.#held;
    this.#held = [];
    this.#approvalTokens.clear();
    const errors: AgentVaultError[] = [];
    for (const h of held) {
      try {
        await this.#send("POST", `/v1/tokens/${h.info.accessor}/revoke`, { bearer: h.token, extraSecrets: [h.token] });
      } catch (e) {
        if (e instanceof AgentVaultError && (e.code === "already_revoked" || e.code === "unauthorized")) continue;
        if (e instanceof AgentVaultError) errors.push(e);
        else throw e;
      }
    }
    if (errors[0]) throw errors[0];
  }
}

// ---- helpers --------------------------------------------------------------------------------

function given(token: string): Token {
  return new Token({ token, accessor: "(given)", scopes: [], ip_allowlist: [], issued_at: "", expires_at: "", ttl_remaining_secs: 0 });
}

function addresses(addr: string | readonly string[]): string[] {
  const items = typeof addr === "string" ? addr.split(",") : [...addr];
  const out: string[] = [];
  for (const raw of items) {
    const a = raw.trim();
    if (!a) continue;
    let u: URL;
    try {
      u = new URL(a);
    } catch {
      throw new ConfigurationError(`invalid node address ${JSON.stringify(a)}: expected a URL such as https://127.0.0.1:8201`, { code: "config" });
    }
    if ((u.protocol !== "http:" && u.protocol !== "https:") || !u.hostname) {
      throw new ConfigurationError(`invalid node address ${JSON.stringify(a)}: the scheme must be http or https`, { code: "config" });
    }
    if (u.search || u.hash || u.username || u.password) {
      throw new ConfigurationError(`invalid node address ${JSON.stringify(a)}: no query, fragment or credentials`, { code: "config" });
    }
    const norm = a.replace(/\/+$/, "");
    if (!out.includes(norm)) out.push(norm);
  }
  if (!out.length) throw new ConfigurationError("no node address: set ASS_ADDR or pass addr", { code: "config" });
  return out;
}

function loadCa(ca: string | Buffer | undefined, envPath: string | undefined): string | Buffer | undefined {
  if (Buffer.isBuffer(ca)) return ca;
  if (typeof ca === "string" && ca.includes("-----BEGIN")) return ca;
  const file = ca ?? (envPath || undefined);
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigurationError(`cannot read the CA certificate ${JSON.stringify(file)}: ${(e as Error).message}`, { code: "config" });
  }
}

function headerOf(ans: RawAnswer, name: string): string | undefined {
  const v = ans.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function answerError(ans: RawAnswer, rid: string | undefined, secrets: readonly string[]): AgentVaultError {
  let code = `http_${ans.status}`;
  let message = `server answered HTTP ${ans.status}`;
  let approvalId: string | undefined;
  const text = ans.body.toString("utf8");
  try {
    const b = JSON.parse(text) as Data;
    if (b && typeof b.error === "string") {
      code = b.error;
      message = String(b.message ?? code);
      approvalId = typeof b.approval_id === "string" ? b.approval_id : undefined;
    }
  } catch {
    if (text.trim()) message += `: ${text.trim().slice(0, 200)}`;
  }
  return errorFromAnswer(ans.status, code, message, { requestId: rid, approvalId, secrets });
}
