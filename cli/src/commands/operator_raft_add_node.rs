//! `ass operator raft add-node`: adds a running node to the cluster as a learner; the call
//! returns once it has caught up with the log.

use ass_client::scope::SYS_OPERATOR;
use ass_client::{AddMemberRequest, MembersResponse};
use clap::Args;

use super::{operator_members, Ctx};
use crate::output;

const LONG_ABOUT: &str = "\
Add a node to the cluster as a learner: it receives the log but does not vote. Start the new
node first (its own config, `bootstrap = false`); the command returns once it has caught up
(the cluster waits up to 60 s). Then unseal it and make it a voter with
`ass operator raft promote ID`. Grow from 3 to 5 voters, never to an even number.

--api-addr and --cluster-addr are host:port (no scheme), as in the node's config. Needs the
sys:operator scope. Prints the new member list.

Example:
  ass operator raft add-node --id 4 --api-addr 10.0.0.14:8200 --cluster-addr 10.0.0.14:8300
  ass operator unseal --addr https://10.0.0.14:8200
  ass operator raft promote 4";

/// Add a node as a learner (promote it afterwards)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct AddNodeArgs {
    /// Node id of the new member (its `node_id`), a positive integer not in use
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(u64).range(1..))]
    pub id: u64,

    /// host:port of the new node's HTTP API
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port)]
    pub api_addr: String,

    /// host:port of the new node's cluster (Raft) port
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port)]
    pub cluster_addr: String,

    /// Print the new member list as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator raft add-node`.
pub async fn exec(ctx: &Ctx, args: &AddNodeArgs) -> anyhow::Result<()> {
    let req = AddMemberRequest {
        id: args.id,
        api_addr: args.api_addr.clone(),
        cluster_addr: args.cluster_addr.clone(),
    };
    let resp = ctx.scoped(SYS_OPERATOR).add_member(&req).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        let scheme = super::operator_raft_list_peers::scheme_of(ctx.client.current_address());
        output::print(&render(args, &resp, scheme))
    }
}

/// What happened and what to do next, then the member list.
/// `scheme`: that of the cluster's addresses (`https` for a TLS cluster).
pub fn render(args: &AddNodeArgs, resp: &MembersResponse, scheme: &str) -> String {
    format!(
        "Added node {id} as a learner; it has caught up. Unseal it \
         (ass operator unseal --addr {scheme}://{api}),\nthen make it a voter: ass operator raft \
         promote {id}\n\n{table}",
        id = args.id,
        api = args.api_addr,
        table = operator_members::render(resp)
    )
}

/// A `host:port` address: a host, a colon, a port from 1 to 65535, no scheme or path.
pub fn host_port(s: &str) -> Result<String, String> {
    let s = s.trim();
    let bad = || format!("`{s}` is not host:port (e.g. 10.0.0.14:8200, no http://)");
    if s.contains("://") || s.contains('/') {
        return Err(bad());
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !host.is_empty() => Ok(s.to_owned()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, OperatorCommand, RaftCommand};

    fn args(argv: &[&str]) -> AddNodeArgs {
        match parse(argv).unwrap().command {
            Command::Operator(OperatorCommand::Raft(RaftCommand::AddNode(a))) => a,
            other => panic!("{other:?}"),
        }
    }

    const ADD: &[&str] = &["operator", "raft", "add-node"];

    #[test]
    fn flags_parse() {
        let a = args(
            &[ADD, &["--id", "4", "--api-addr", "10.0.0.14:8200", "--cluster-addr", "n4:8201"]]
                .concat(),
        );
        assert_eq!(
            (a.id, a.api_addr.as_str(), a.cluster_addr.as_str()),
            (4, "10.0.0.14:8200", "n4:8201")
        );
        assert!(!a.json);
    }

    #[test]
    fn missing_or_bad_flags_are_usage_errors() {
        let ok = ["--api-addr", "a:1", "--cluster-addr", "a:2"];
        assert!(parse(&[ADD, &ok].concat()).is_err(), "--id is required");
        assert!(parse(&[ADD, &["--id", "0"], &ok].concat()).is_err());
        assert!(parse(&[ADD, &["--id", "4", "--api-addr", "a:1"]].concat()).is_err());
        for bad in ["http://a:1", "a", "a:0", ":8200", "a:99999", "a:1/x"] {
            let argv = [ADD, &["--id", "4", "--api-addr", bad, "--cluster-addr", "a:2"]].concat();
            assert!(parse(&argv).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_port_accepts_names_ips_and_ipv6() {
        assert_eq!(host_port(" n4:8200 ").unwrap(), "n4:8200");
        assert_eq!(host_port("[::1]:8200").unwrap(), "[::1]:8200");
        assert!(host_port("http://n4:8200").unwrap_err().contains("no http://"));
    }

    #[test]
    fn render_says_what_next_then_the_table() {
        let a = args(
            &[ADD, &["--id", "4", "--api-addr", "n4:8200", "--cluster-addr", "n4:8201"]].concat(),
        );
        let resp: MembersResponse = fixture(serde_json::json!({"members": [
            {"id": 1, "api_addr": "n1:8200", "cluster_addr": "n1:8201", "voter": true,
             "leader": true, "matched_index": 9},
            {"id": 4, "api_addr": "n4:8200", "cluster_addr": "n4:8201", "voter": false,
             "leader": false, "matched_index": 9}
        ]}));
        let out = render(&a, &resp, "http");
        assert!(
            out.starts_with(
                "Added node 4 as a learner; it has caught up. Unseal it (ass operator unseal \
                 --addr http://n4:8200),\nthen make it a voter: ass operator raft promote 4\n\n\
                 ID  API"
            ),
            "{out}"
        );
        assert!(out.contains("4   n4:8200  n4:8201  no     no      9\n"), "{out}");
    }
}
