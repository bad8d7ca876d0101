/**
 * The errors of the SDK: one class per stable API error code family, all under
 * {@link AgentVaultError} with `code`, `status` and `requestId`. Match on the class or on
 * `code`, never on the message.
 *
 * No error ever carries a secret value, an agent key or a token: server messages are scrubbed
 * of anything shaped like a credential and of every credential and value the client holds.
 */

const CREDENTIAL = /\bass[rt]?_[A-Za-z0-9+/=_-]{8,}/g;
export const REDACTED = "<redacted>";

/** `text` with credential-shaped words and every string of `secrets` replaced. */
export function scrub(text: string, secrets: Iterable<string> = []): string {
  for (const s of secrets) {
    if (s && s.length >= 4) text = text.split(s).join(REDACTED);
  }
  return text.replace(CREDENTIAL, REDACTED);
}

export interface ErrorFields {
  code: string;
  status?: number | undefined;
  requestId?: string | undefined;
  approvalId?: string | undefined;
}

/** Base of every error of this SDK. */
export class AgentVaultError extends Error {
  /** The API's stable code (`not_found`, `sealed`, …), or `transport`, `config`, `decode`. */
  readonly code: string;
  /** HTTP status of the answer; `undefined` when no answer was involved. */
  readonly status: number | undefined;
  /** `x-ass-request-id` of the answer (a write's idempotency key), for the audit log. */
  readonly requestId: string | undefined;

  constructor(message: string, fields: ErrorFields) {
    super(message);
    this.name = new.target.name;
    this.code = fields.code;
    this.status = fields.status;
    this.requestId = fields.requestId;
  }
}

/** A local mistake before anything was sent (no address, bad CA file, no credential). */
export class ConfigurationError extends AgentVaultError {}
/** No usable answer from any node within the retry window. */
export class TransportError extends AgentVaultError {}
/** A success answer whose body is not what the API promises. */
export class DecodeError extends AgentVaultError {}

/** 400: the request breaks a rule of the API. */
export class InvalidRequestError extends AgentVaultError {}
/** `invalid_path` (raised locally, before any request, when the SDK can tell). */
export class InvalidPathError extends InvalidRequestError {}
/** `invalid_scope`: a scope breaks the grammar, or the list is empty or over 256. */
export class InvalidScopeError extends InvalidRequestError {}
/** `invalid_ttl`: a TTL breaks the grammar (`90s`, `15m`, `1h30m`, `2d`). */
export class InvalidTtlError extends InvalidRequestError {}
/** `ttl_too_long`: a token TTL above the policy's `max_ttl`. */
export class TtlTooLongError extends InvalidTtlError {}
/** `invalid_allowlist`. */
export class InvalidAllowlistError extends InvalidRequestError {}
/** `not_a_token`. */
export class NotATokenError extends InvalidRequestError {}
/** `already_revoked`. */
export class AlreadyRevokedError extends InvalidRequestError {}
/** `already_deleted`. */
export class AlreadyDeletedError extends InvalidRequestError {}

/** 401 `unauthorized`: no credential, or one that is unknown, expired or revoked. */
export class UnauthorizedError extends AgentVaultError {}
/** 403: the credential may not do this. */
export class PermissionDeniedError extends AgentVaultError {}
/** `scope_denied`: the message names the missing scope. */
export class ScopeDeniedError extends PermissionDeniedError {}
/** `ip_not_allowed`. */
export class IpNotAllowedError extends PermissionDeniedError {}
/** `agent_key_not_allowed`: an agent key used for anything but buying tokens. */
export class AgentKeyNotAllowedError extends PermissionDeniedError {}
/** `agent_revoked`. */
export class AgentRevokedError extends PermissionDeniedError {}
/** `not_an_approver`. */
export class NotAnApproverError extends PermissionDeniedError {}
/** `self_approval`. */
export class SelfApprovalError extends PermissionDeniedError {}

/**
 * `approval_required` (or `approval_expired` on a read): the secret's tier needs approvals;
 * `approvalId` names the pending request.
 */
export class ApprovalRequiredError extends PermissionDeniedError {
  readonly approvalId: string;
  constructor(message: string, fields: ErrorFields & { approvalId: string }) {
    super(message, fields);
    this.approvalId = fields.approvalId;
  }
}

/** `approval_denied`: the read's approval request was denied. */
export class ApprovalDeniedError extends PermissionDeniedError {
  readonly approvalId: string | undefined;
  constructor(message: string, fields: ErrorFields) {
    super(message, fields);
    this.approvalId = fields.approvalId;
  }
}

/** An approval request timed out (`waitForApproval`), or a decision came too late. */
export class ApprovalExpiredError extends AgentVaultError {
  readonly approvalId: string | undefined;
  constructor(message: string, fields: ErrorFields) {
    super(message, fields);
    this.approvalId = fields.approvalId;
  }
}

/** `waitForApproval` gave up: still pending after `timeoutMs`. */
export class ApprovalWaitTimeoutError extends AgentVaultError {
  readonly approvalId: string | undefined;
  constructor(message: string, fields: ErrorFields) {
    super(message, fields);
    this.approvalId = fields.approvalId;
  }
}

/** 404 `not_found`. */
export class NotFoundError extends AgentVaultError {}
/** `secret_deleted`. */
export class SecretDeletedError extends NotFoundError {}
/** `version_destroyed`. */
export class VersionDestroyedError extends NotFoundError {}
/** 409. */
export class ConflictError extends AgentVaultError {}
/** `cas_mismatch`. */
export class CasMismatchError extends ConflictError {}
/** 413. */
export class TooLargeError extends AgentVaultError {}
/** 429 `rate_limited` on every node tried within the retry window. */
export class RateLimitedError extends AgentVaultError {}
/** 500 `internal`. */
export class ServerError extends AgentVaultError {}
/** 503/504 on every node tried within the retry window. */
export class UnavailableError extends AgentVaultError {}
/** 503 `sealed`. */
export class SealedError extends UnavailableError {}
/** 503 `no_leader`. */
export class NoLeaderError extends UnavailableError {}

type Ctor = new (message: string, fields: ErrorFields) => AgentVaultError;

const BY_CODE: Record<string, Ctor> = {
  invalid_path: InvalidPathError,
  invalid_scope: InvalidScopeError,
  invalid_ttl: InvalidTtlError,
  ttl_too_long: TtlTooLongError,
  invalid_allowlist: InvalidAllowlistError,
  not_a_token: NotATokenError,
  already_revoked: AlreadyRevokedError,
  already_deleted: AlreadyDeletedError,
  unauthorized: UnauthorizedError,
  scope_denied: ScopeDeniedError,
  ip_not_allowed: IpNotAllowedError,
  agent_key_not_allowed: AgentKeyNotAllowedError,
  agent_revoked: AgentRevokedError,
  not_an_approver: NotAnApproverError,
  self_approval: SelfApprovalError,
  not_found: NotFoundError,
  no_route: NotFoundError,
  secret_deleted: SecretDeletedError,
  version_destroyed: VersionDestroyedError,
  cas_mismatch: CasMismatchError,
  rate_limited: RateLimitedError,
  internal: ServerError,
  sealed: SealedError,
  no_leader: NoLeaderError,
};

const BY_STATUS: Record<number, Ctor> = {
  400: InvalidRequestError,
  401: UnauthorizedError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  413: TooLargeError,
  429: RateLimitedError,
  500: ServerError,
  503: UnavailableError,
  504: UnavailableError,
};

/** The error for an answer with `status` and the body's `code` (message scrubbed). */
export function errorFromAnswer(
  status: number,
  code: string,
  message: string,
  opts: { requestId?: string | undefined; approvalId?: string | undefined; secrets?: Iterable<string> } = {},
): AgentVaultError {
  const msg = scrub(message, opts.secrets ?? []);
  const fields: ErrorFields = { code, status, requestId: opts.requestId, approvalId: opts.approvalId };
  if ((code === "approval_required" || code === "approval_expired") && opts.approvalId && status === 403) {
    return new ApprovalRequiredError(msg, { ...fields, approvalId: opts.approvalId });
  }
  if (code === "approval_expired") return new ApprovalExpiredError(msg, fields);
  if (code === "approval_denied") return new ApprovalDeniedError(msg, fields);
  const C = BY_CODE[code] ?? BY_STATUS[status] ?? (status >= 500 ? ServerError : InvalidRequestError);
  return new C(msg, fields);
}
