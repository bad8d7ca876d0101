//! Benchmarks of the node: the criterion micro benches live in `benches/micro.rs`; this library
//! holds the parts of the cluster load benchmark (`src/bin/loadbench.rs`): the load generator,
//! the systems it drives and the process handling that stops every server it starts.

pub mod gen;
pub mod procs;
pub mod systems;
