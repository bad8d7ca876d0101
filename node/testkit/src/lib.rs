//! `ass-testkit`: the one launcher of local Agent Secret Store clusters, made of real
//! `ass-node` processes (the binary path is the caller's). `ass-node dev`, the node's
//! integration tests, the CLI tests, the chaos suite and the benchmarks all start their
//! members here.
//!
//! ```text
//!  cluster (DevCluster: loopback ports, cluster.json, init + unseal, restart on the same dir)
//!     └── member (one `ass-node run` process: spawn, wait answering, stop, kill, reap)
//!           ├── launch   how it is started: plain, `ip netns exec`, `taskset`, `faketime`
//!           ├── process  process group + PR_SET_PDEATHSIG, SIGTERM then kill -9, kill_all
//!           └── config   config.toml and [[peers]]
//!  certs (dev CA, node certificates)    api (CA-trusting client, status, init, unseal)
//!  ports (free loopback base ports)
//! ```
//!
//! It depends on the wire crate (`ass-client`) only, never on the node library: the
//! `ass-node` binary depends on it for `dev`, so the arrow points one way.

pub mod api;
pub mod certs;
pub mod cluster;
pub mod config;
pub mod launch;
pub mod member;
pub mod ports;
pub mod process;

pub use certs::{dev_certs, DevCa, DevCerts, NodeCertFiles};
pub use cluster::{ClusterFile, ClusterFileNode, DevCluster, DevOptions, StopReport, STOP_GRACE};
pub use config::{peers_toml, NodeConfig};
pub use launch::Launch;
pub use member::Member;
