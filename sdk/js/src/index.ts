/**
 * Agent Secret Store for JavaScript and TypeScript (Node 20+, ESM, no runtime dependency):
 * minimum-scope, short-lived tokens for AI agents, refreshed automatically, with approvals
 * and failover across the cluster's nodes.
 *
 * ```ts
 * import { AgentVault, ApprovalRequiredError } from "agentsecretstore";
 * const vault = new AgentVault({ agentKey: process.env.ASS_AGENT_KEY });
 * await vault.requestToken({ scopes: ["secrets:read:production/gemini/*"], ttl: "1h" });
 * const secret = await vault.getSecret("production/gemini/GEMINI_API_KEY");
 * ```
 */

export * from "./errors.js";
export { Secret, Token } from "./models.js";
export type { Approval, Decision, SecretMetadata, WriteResult } from "./models.js";
export {
  AgentVault,
  DEFAULT_ADDR,
  DEFAULT_RETRY_TIMEOUT_MS,
  DEFAULT_TOKEN_TTL,
  VERSION,
} from "./vault.js";
export type { AgentVaultOptions, Logger, RequestTokenOptions } from "./vault.js";
/** The API these routes belong to. */
export const API_VERSION = "v1";
