// Type-checked by `npm run typecheck` (tsc --noEmit against the emitted .d.ts): the public
// API is typed the way a user's TypeScript would use it. Never run.

import { AgentVault, AgentVaultError, ApprovalRequiredError, type Approval, type Secret, type Token } from "agentsecretstore";

export async function agent(): Promise<string> {
  const vault = new AgentVault({ agentKey: process.env.ASS_AGENT_KEY, addr: ["https://n1:8200"], retryTimeoutMs: 5000 });
  const token: Token = await vault.requestToken({ scopes: ["secrets:read:production/gemini/*"], ttl: "1h" });
  try {
    const secret: Secret = await vault.getSecret("production/stripe/STRIPE_SECRET_KEY", { reason: "payout" });
    return secret.value + token.accessor;
  } catch (e) {
    if (e instanceof ApprovalRequiredError) {
      const status: Approval = await vault.getApprovalStatus(e.approvalId);
      const waited: Approval = await vault.waitForApproval(e.approvalId, { timeoutMs: 60_000 });
      return status.status + waited.status;
    }
    if (e instanceof AgentVaultError) return `${e.code} ${e.status ?? 0} ${e.requestId ?? ""}`;
    throw e;
  } finally {
    await vault.close();
  }
}

export async function writer(vault: AgentVault): Promise<number> {
  const w = await vault.setSecret("dev/a/B", "v", { tier: "sensitive", cas: 0 });
  return w.version + w.index;
}
