/** What the calls return. Values and tokens never show in `console.log`, `util.inspect`,
 * `JSON.stringify` or `String()`. */

import { inspect } from "node:util";

type Json = Record<string, unknown>;
const str = (v: unknown, d = ""): string => (v === undefined || v === null ? d : String(v));
const opt = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

/** One version of a secret. `value` is readable as a property but never printed. */
export class Secret {
  readonly path: string;
  readonly version: number;
  readonly type: string;
  readonly tier: string;
  readonly createdAt: string;
  readonly #value: string;

  constructor(d: Json) {
    this.path = str(d.path);
    this.version = Number(d.version);
    this.#value = str(d.value);
    this.type = str(d.type, "generic");
    this.tier = str(d.tier, "standard");
    this.createdAt = str(d.created_at);
  }

  /** The secret value. */
  get value(): string {
    return this.#value;
  }

  toJSON(): Json {
    return { path: this.path, version: this.version, type: this.type, tier: this.tier, createdAt: this.createdAt, value: "<redacted>" };
  }

  toString(): string {
    return `Secret(${this.path} v${this.version}, ${this.type}, ${this.tier}, value=<redacted>)`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** A token the client holds. `token` is the bearer itself and is never printed; `accessor`
 * names it for lookup and revoke and is not a credential. */
export class Token {
  readonly accessor: string;
  readonly scopes: readonly string[];
  readonly ipAllowlist: readonly string[];
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly ttlRemainingSecs: number;
  readonly agentName: string | undefined;
  readonly breakGlass: boolean;
  readonly #token: string;

  constructor(d: Json) {
    this.#token = str(d.token);
    this.accessor = str(d.accessor);
    this.scopes = Object.freeze(Array.isArray(d.scopes) ? d.scopes.map(String) : []);
    this.ipAllowlist = Object.freeze(Array.isArray(d.ip_allowlist) ? d.ip_allowlist.map(String) : []);
    this.issuedAt = str(d.issued_at);
    this.expiresAt = str(d.expires_at);
    this.ttlRemainingSecs = Number(d.ttl_remaining_secs ?? 0);
    this.agentName = opt(d.agent_name);
    this.breakGlass = Boolean(d.break_glass);
  }

  /** The bearer token. */
  get token(): string {
    return this.#token;
  }

  toJSON(): Json {
    return { accessor: this.accessor, scopes: this.scopes, expiresAt: this.expiresAt, token: "<redacted>" };
  }

  toString(): string {
    return `Token(${this.accessor}, [${this.scopes.join(", ")}], expires ${this.expiresAt}, token=<redacted>)`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

export interface WriteResult {
  path: string;
  version: number;
  /** Raft log index the write committed at. */
  index: number;
}

export interface SecretMetadata {
  path: string;
  latestVersion: number;
  type: string;
  tier: string;
  createdAt: string;
  updatedAt: string;
  deleted: boolean;
}

export function metadataFrom(d: Json): SecretMetadata {
  return {
    path: str(d.path),
    latestVersion: Number(d.latest_version ?? 0),
    type: str(d.type, "generic"),
    tier: str(d.tier, "standard"),
    createdAt: str(d.created_at),
    updatedAt: str(d.updated_at),
    deleted: Boolean(d.deleted),
  };
}

export interface Decision {
  approver: string;
  at: string;
  comment?: string | undefined;
}

/** An approval request; `status` is `pending`, `approved`, `denied` or `expired`. */
export interface Approval {
  id: string;
  status: "pending" | "approved" | "denied" | "expired" | string;
  path: string;
  tier: string;
  requiredApprovals: number;
  approvals: Decision[];
  requestedAt: string;
  expiresAt: string;
  agentName?: string | undefined;
  reason?: string | undefined;
  denial?: Decision | undefined;
  grantExpiresAt?: string | undefined;
}

function decision(d: Json): Decision {
  return { approver: str(d.approver), at: str(d.at), comment: opt(d.comment) };
}

export function approvalFrom(d: Json): Approval {
  return {
    id: str(d.id),
    status: str(d.status),
    path: str(d.path),
    tier: str(d.tier),
    requiredApprovals: Number(d.required_approvals ?? 0),
    approvals: Array.isArray(d.approvals) ? d.approvals.map((x) => decision(x as Json)) : [],
    requestedAt: str(d.requested_at),
    expiresAt: str(d.expires_at),
    agentName: opt(d.agent_name),
    reason: opt(d.reason),
    denial: d.denial && typeof d.denial === "object" ? decision(d.denial as Json) : undefined,
    grantExpiresAt: opt(d.grant_expires_at),
  };
}
