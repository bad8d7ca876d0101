//! A node's `config.toml` as the launcher writes it: identity and addresses, the data dir,
//! bootstrap or join, TLS (a `[tls]` table naming the dev certificates, or `tls_disable`),
//! whatever the caller adds, and the `[[peers]]` table.

use std::path::{Path, PathBuf};

use crate::certs::NodeCertFiles;

/// One node's config.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// First line, a comment saying who wrote the file.
    pub header: String,
    pub id: u64,
    pub api_addr: String,
    pub cluster_addr: String,
    pub data_dir: PathBuf,
    /// `max_body_bytes`, when set (the dev cluster sets 1 MiB).
    pub max_body_bytes: Option<u64>,
    /// `false` for a node that joins later (added with `POST /v1/sys/members`).
    pub bootstrap: bool,
    /// The node's certificate and the CA; `None`: `tls_disable = true`.
    pub tls: Option<(NodeCertFiles, PathBuf)>,
    /// TOML right after the top-level keys (more keys, then tables).
    pub extra: String,
    /// `(id, api_addr, cluster_addr)` of every voter the node starts with.
    pub peers: Vec<(u64, String, String)>,
}

impl NodeConfig {
    /// The file's text. `tls_disable` is the last top-level key before [`NodeConfig::extra`]
    /// (tests insert tables right after it).
    pub fn to_toml(&self) -> String {
        let body_limit = match self.max_body_bytes {
            Some(n) => format!("max_body_bytes = {n}\n"),
            None => String::new(),
        };
        let tls = match &self.tls {
            Some((files, ca)) => format!("\n{}", files.toml(ca)),
            None => String::new(),
        };
        format!(
            "{}\nnode_id = {}\napi_addr = \"{}\"\ncluster_addr = \"{}\"\ndata_dir = \"{}\"\n{body_limit}bootstrap = {}\ntls_disable = {}\n{}\n{tls}{}",
            self.header,
            self.id,
            self.api_addr,
            self.cluster_addr,
            self.data_dir.display(),
            self.bootstrap,
            self.tls.is_none(),
            self.extra,
            peers_toml(self.peers.iter().cloned()),
        )
    }

    /// Writes it to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_toml())
    }
}

/// The `[[peers]]` tables of a node config, one per `(id, api_addr, cluster_addr)`, each
/// starting with a blank line.
pub fn peers_toml(peers: impl IntoIterator<Item = (u64, String, String)>) -> String {
    let mut out = String::new();
    for (id, api, cluster) in peers {
        out.push_str(&format!(
            "\n[[peers]]\nid = {id}\napi_addr = \"{api}\"\ncluster_addr = \"{cluster}\"\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_lists_its_peers_after_its_own_tables() {
        let c = NodeConfig {
            header: "# test".into(),
            id: 2,
            api_addr: "127.0.0.1:8202".into(),
            cluster_addr: "127.0.0.1:8302".into(),
            data_dir: "/d/node2/data".into(),
            max_body_bytes: Some(4096),
            bootstrap: false,
            tls: None,
            extra: "[raft]\nsnapshot_every = 10\n".into(),
            peers: vec![(1, "a:1".into(), "a:2".into()), (2, "b:1".into(), "b:2".into())],
        };
        let t = c.to_toml();
        let v: toml::Table = toml::from_str(&t).unwrap();
        assert_eq!(v["node_id"].as_integer(), Some(2), "{t}");
        assert_eq!(v["bootstrap"].as_bool(), Some(false));
        assert_eq!(v["max_body_bytes"].as_integer(), Some(4096));
        assert!(t.contains("tls_disable = true\n[raft]"), "extra follows tls_disable: {t}");
        assert_eq!(v["tls_disable"].as_bool(), Some(true));
        assert_eq!(v["raft"]["snapshot_every"].as_integer(), Some(10));
        let peers = v["peers"].as_array().unwrap();
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[1]["cluster_addr"].as_str(), Some("b:2"));
    }
}
