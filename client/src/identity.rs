//! Agents, tokens, the token policy and the root token: the identity half of the API.
//!
//! Agent keys (`ass_…`) and tokens (`asst_…`) appear in exactly three answers, each shown
//! once: [`Client::create_agent`], [`Client::rotate_agent_key`] and [`Client::issue_token`] /
//! [`Client::refresh_token`]. A write among these retried on another node whose first attempt
//! was applied answers 409 `replayed`: the credential it made is gone for good (the cluster
//! keeps only hashes), so it is reported, never papered over.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::addr::encode_path_segment;
use crate::types::{
    AgentInfo, AgentKeyResponse, CreateAgentRequest, GenerateRootRequest, GenerateRootResponse,
    IssueTokenRequest, IssueTokenResponse, ListAgentsResponse, ListTokensResponse, TokenInfo,
    TokenPolicy,
};
use crate::{Call, Client, Error};

/// Answer to `POST /v1/sys/root/revoke`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevokeRootResponse {
    pub revoked: bool,
    /// Log index the revocation committed at.
    pub index: u64,
}

/// `/v1/agents/<name or id>[/<action>]`.
fn agent_route(name: &str, action: Option<&str>) -> Result<String, Error> {
    let seg = encode_path_segment("agent name", name)?;
    Ok(match action {
        Some(a) => format!("/v1/agents/{seg}/{a}"),
        None => format!("/v1/agents/{seg}"),
    })
}

/// `/v1/tokens/<accessor>[/<action>]`.
fn token_route(accessor: &str, action: Option<&str>) -> Result<String, Error> {
    let seg = encode_path_segment("token accessor", accessor)?;
    Ok(match action {
        Some(a) => format!("/v1/tokens/{seg}/{a}"),
        None => format!("/v1/tokens/{seg}"),
    })
}

impl Client {
    /// `POST /v1/agents`: registers an agent (needs `agents:manage`). The answer holds the
    /// agent key, shown this once.
    pub async fn create_agent(&self, req: &CreateAgentRequest) -> Result<AgentKeyResponse, Error> {
        self.call(Call::new(Method::POST, "/v1/agents").json(req)?).await
    }

    /// `GET /v1/agents` (needs `agents:manage`): every agent, never a key.
    pub async fn list_agents(&self) -> Result<ListAgentsResponse, Error> {
        self.call(Call::new(Method::GET, "/v1/agents")).await
    }

    /// `GET /v1/agents/{name_or_id}` (needs `agents:manage`).
    pub async fn get_agent(&self, name_or_id: &str) -> Result<AgentInfo, Error> {
        self.call(Call::new(Method::GET, agent_route(name_or_id, None)?)).await
    }

    /// `POST /v1/agents/{name}/revoke` (needs `agents:manage`): the key and every token it
    /// bought stop working.
    pub async fn revoke_agent(&self, name: &str) -> Result<AgentInfo, Error> {
        self.call(Call::new(Method::POST, agent_route(name, Some("revoke"))?)).await
    }

    /// `POST /v1/agents/{name}/rotate-key` (needs `agents:manage`): a new key, shown this
    /// once; the old one stops working.
    pub async fn rotate_agent_key(&self, name: &str) -> Result<AgentKeyResponse, Error> {
        self.call(Call::new(Method::POST, agent_route(name, Some("rotate-key"))?)).await
    }

    /// `POST /v1/tokens`: a short-lived token whose scopes lie within the caller's. In
    /// agent-key mode the agent key itself is the bearer; otherwise the session token (which
    /// needs `tokens:manage`, or is the root token). The token is shown this once.
    pub async fn issue_token(&self, req: &IssueTokenRequest) -> Result<IssueTokenResponse, Error> {
        let call = Call::new(Method::POST, "/v1/tokens").json(req)?;
        match self.inner.session.agent() {
            Some(g) => {
                if let Some(e) = &self.inner.invalid {
                    return Err(e.clone());
                }
                self.send(call, Some(&g.key)).await?.decode()
            }
            None => self.call(call).await,
        }
    }

    /// `GET /v1/tokens[?all=true]` (needs `tokens:manage`): live tokens, or every token with
    /// `all` (expired and revoked too). Never the tokens themselves.
    pub async fn list_tokens(&self, all: bool) -> Result<ListTokensResponse, Error> {
        let mut call = Call::new(Method::GET, "/v1/tokens");
        if all {
            call = call.query("all", "true");
        }
        self.call(call).await
    }

    /// `GET /v1/tokens/{accessor}` (needs `tokens:manage`, except for one's own token).
    pub async fn get_token(&self, accessor: &str) -> Result<TokenInfo, Error> {
        self.call(Call::new(Method::GET, token_route(accessor, None)?)).await
    }

    /// `POST /v1/tokens/{accessor}/revoke` (needs `tokens:manage`, except for one's own).
    pub async fn revoke_token(&self, accessor: &str) -> Result<TokenInfo, Error> {
        self.call(Call::new(Method::POST, token_route(accessor, Some("revoke"))?)).await
    }

    /// `GET /v1/policy/tokens`: the TTL rules for tokens.
    pub async fn get_token_policy(&self) -> Result<TokenPolicy, Error> {
        self.call(Call::new(Method::GET, "/v1/policy/tokens")).await
    }

    /// `PUT /v1/policy/tokens` (needs `policy:manage`): replaces the TTL rules.
    pub async fn set_token_policy(&self, policy: &TokenPolicy) -> Result<TokenPolicy, Error> {
        self.call(Call::new(Method::PUT, "/v1/policy/tokens").json(policy)?).await
    }

    /// `POST /v1/sys/generate-root`: hands one unseal key share (or `reset: true`) to the
    /// current node only — progress is per node, like unseal: use [`Client::for_node`].
    /// Needs no token: the shares are the credential. At the threshold the answer carries
    /// the new root token, which replaces the old one.
    pub async fn generate_root(
        &self,
        req: &GenerateRootRequest,
    ) -> Result<GenerateRootResponse, Error> {
        let call =
            Call::new(Method::POST, "/v1/sys/generate-root").no_auth().per_node().json(req)?;
        self.call(call).await
    }

    /// `POST /v1/sys/root/revoke` (needs `sys:operator`): the root token stops working; only
    /// [`Client::generate_root`] makes a new one.
    pub async fn revoke_root(&self) -> Result<RevokeRootResponse, Error> {
        let r: RevokeRootResponse =
            self.call(Call::new(Method::POST, "/v1/sys/root/revoke")).await?;
        self.note_write_index(r.index);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_and_token_routes_encode_one_segment() {
        assert_eq!(agent_route("inference-service", None).unwrap(), "/v1/agents/inference-service");
        assert_eq!(agent_route("a b", Some("rotate-key")).unwrap(), "/v1/agents/a%20b/rotate-key");
        assert_eq!(agent_route("../sys", None).unwrap(), "/v1/agents/..%2Fsys");
        assert!(agent_route("..", Some("revoke")).is_err());
        assert_eq!(
            token_route("0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f", Some("revoke")).unwrap(),
            "/v1/tokens/0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f/revoke"
        );
        assert!(token_route("", None).is_err());
    }
}
