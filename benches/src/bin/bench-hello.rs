//! `bench-hello --addr 127.0.0.1:PORT`: a bare axum "hello" server, the HTTP ceiling the load
//! benchmark measures the machine by. `GET /` and `POST /` answer `hello`; nothing else runs.

use clap::Parser;

#[derive(Parser)]
#[command(name = "bench-hello", about = "Bare axum hello server: the HTTP ceiling for loadbench")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    addr: std::net::SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    ass_benches::systems::serve_hello(cli.addr).await
}
