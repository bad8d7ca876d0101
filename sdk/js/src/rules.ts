/**
 * Pure rules applied before anything is sent: secret paths, the least scope each call needs,
 * whether held scopes cover it, and when a token is due for refresh. They mirror the server's
 * (docs/api.md "Paths", "Scopes") and the Rust client's refresh margin; the server stays the
 * judge of everything.
 */

import { ConfigurationError, InvalidPathError } from "./errors.js";

const SEGMENT = /^[A-Za-z0-9_.-]+$/;
export const MAX_PATH_BYTES = 512;
/** Refresh once less than a fifth of the lifetime is left, or a minute, at most half. */
export const REFRESH_FRACTION = 0.2;
export const MIN_REFRESH_MARGIN_MS = 60_000;

function pathProblem(path: string): string | null {
  if (!path) return "it is empty";
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `it is longer than ${MAX_PATH_BYTES} bytes`;
  const segs = path.split("/");
  if (segs.length < 2) return "it needs at least two segments, namespace/NAME (e.g. production/stripe/KEY)";
  for (const s of segs) {
    if (!s) return "no empty segment (leading, trailing or double /)";
    if (s === "." || s === "..") return "`.` and `..` segments are not allowed";
    if (!SEGMENT.test(s)) return `segment ${JSON.stringify(s)} may only hold A-Z a-z 0-9 _ . -`;
  }
  if (segs[segs.length - 1] === "versions") return "the last segment can't be `versions`";
  return null;
}

/** `path` if it is a valid secret path, else {@link InvalidPathError}. */
export function checkPath(path: string): string {
  if (typeof path !== "string") throw new InvalidPathError("a secret path is a string", { code: "invalid_path" });
  const why = pathProblem(path);
  if (why) throw new InvalidPathError(`invalid secret path ${JSON.stringify(path)}: ${why}`, { code: "invalid_path" });
  return path;
}

/** `prefix` if it is a valid list prefix, else {@link InvalidPathError}. */
export function checkPrefix(prefix: string): string {
  if (!prefix) return prefix;
  const body = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  for (const s of body.split("/")) {
    if (!s || s === "." || s === ".." || !SEGMENT.test(s)) {
      throw new InvalidPathError(`invalid list prefix ${JSON.stringify(prefix)}`, { code: "invalid_path" });
    }
  }
  return prefix;
}

export const readScope = (path: string): string => `secrets:read:${path}`;
export const writeScope = (path: string): string => `secrets:write:${path}`;

/** The narrowest `secrets:list:` scope covering a listing of `prefix`. */
export function listScope(prefix: string): string {
  const i = prefix.lastIndexOf("/");
  return i >= 0 ? `secrets:list:${prefix.slice(0, i + 1)}*` : "secrets:list:*";
}

function split(scope: string): [string, string] | null {
  const a = scope.indexOf(":");
  const b = a < 0 ? -1 : scope.indexOf(":", a + 1);
  if (a < 0 || b < 0 || scope.slice(0, a) !== "secrets") return null;
  return [scope.slice(a + 1, b), scope.slice(b + 1)];
}

function globWithin(inner: string, outer: string): boolean {
  if (outer === "*") return true;
  if (inner === "*") return false;
  if (outer.endsWith("/*")) {
    const base = outer.slice(0, -1);
    return (inner.endsWith("/*") ? inner.slice(0, -1) : inner).startsWith(base);
  }
  return inner === outer;
}

/** Whether `outer` covers `inner` by the server's containment rule. */
export function scopeWithin(inner: string, outer: string): boolean {
  if (inner === outer) return true;
  const a = split(inner);
  const b = split(outer);
  if (!a || !b) return false;
  if (b[0] !== "*" && a[0] !== b[0]) return false;
  return globWithin(a[1], b[1]);
}

export function covers(scopes: readonly string[], needed: string): boolean {
  return scopes.some((s) => scopeWithin(needed, s));
}

/** Milliseconds before expiry at which a token of `lifetimeMs` is refreshed. */
export function refreshMarginMs(lifetimeMs: number): number {
  return Math.min(Math.max(lifetimeMs * REFRESH_FRACTION, MIN_REFRESH_MARGIN_MS), lifetimeMs / 2);
}

/** An `x-ass-reason` value: printable ASCII (tabs included), at most 1024 bytes. */
export function checkReason(reason: string): string {
  if (!/^[\t\x20-\x7e]*$/.test(reason)) {
    throw new ConfigurationError("the reason must be printable ASCII (no accents, emoji or line breaks)", { code: "config" });
  }
  if (reason.length > 1024) throw new ConfigurationError("the reason is limited to 1024 bytes", { code: "config" });
  return reason;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function checkApprovalId(id: string): string {
  if (typeof id !== "string" || !UUID.test(id)) {
    throw new ConfigurationError(`an approval id is a UUID, not ${JSON.stringify(id)}`, { code: "config" });
  }
  return id;
}
