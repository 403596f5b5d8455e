//! `static-server`: serves the clip-branches app and dataset folders as a static host
//! would, for local use and tests. See the crate README for the header contract.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use static_server::{Config, CorsOrigin, Limits};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serve the clip-branches app at `/` and dataset folders under `/data/`.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Folder of the built frontend (`frontend/dist`, from frontend/build.sh), served at `/`.
    #[arg(long, value_name = "DIR")]
    dist: PathBuf,
    /// Folder holding the dataset folders, served under `/data/`.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Address to listen on. Keep it on loopback unless you mean to share the files.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Allow pages on another origin to read `/data/*`: `*` or one origin such as
    /// `https://example.org`. Adds CORS answers (preflights included) and
    /// `Cross-Origin-Resource-Policy: cross-origin` on `/data/*`.
    #[arg(long, value_name = "ORIGIN|*")]
    cors: Option<CorsOrigin>,
    /// With `--cors`, do the same for the app's own files, so pages on that origin can
    /// embed the app with `<script type="module" src=".../clip-branches.js">`.
    #[arg(long, requires = "cors")]
    cors_app: bool,
    /// Do not send the COOP/COEP headers that make the app cross-origin isolated
    /// (needed for SharedArrayBuffer and wasm threads).
    #[arg(long)]
    no_cross_origin_isolation: bool,
    /// Connections open at once; more wait in the listen backlog. Raise `ulimit -n` to match.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: NonZeroUsize,
    /// Largest request line plus headers, in bytes; larger requests get 431.
    #[arg(long, default_value_t = Limits::default().max_header_bytes)]
    max_header_bytes: NonZeroUsize,
    /// Seconds a client has to send a request head; idle connections close after it.
    #[arg(long, default_value_t = Limits::default().header_read_timeout.as_secs())]
    header_timeout_secs: u64,
    /// Seconds requests in flight get to finish after SIGINT or SIGTERM.
    #[arg(long, default_value_t = Limits::default().shutdown_grace.as_secs())]
    shutdown_grace_secs: u64,
    /// Log format. The level comes from `RUST_LOG` (default `info`; the access log is
    /// the target `static_server::access`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match cli.log_format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }

    let mut config = Config::new(&cli.dist, &cli.data).context("invalid folders")?;
    config.cross_origin_isolation = !cli.no_cross_origin_isolation;
    config.cors = cli.cors;
    config.cors_app = cli.cors_app;
    config.limits = Limits {
        max_connections: cli.max_connections,
        max_header_bytes: cli.max_header_bytes,
        header_read_timeout: Duration::from_secs(cli.header_timeout_secs),
        shutdown_grace: Duration::from_secs(cli.shutdown_grace_secs),
        ..Limits::default()
    };

    let listener = listen(cli.addr).with_context(|| format!("cannot listen on {}", cli.addr))?;
    tracing::info!(
        addr = %listener.local_addr().context("listener has no address")?,
        dist = %config.dist().display(),
        data = %config.data().display(),
        "serving"
    );
    let shutdown = shutdown_signal().context("cannot install signal handlers")?;
    static_server::serve(listener, &config, shutdown)
        .await
        .context("shutdown was not clean")?;
    tracing::info!("stopped");
    Ok(())
}

/// Pending connections the kernel keeps for `accept` (std's default is 128, nginx's
/// 511); a burst of clients beyond it waits for SYN retransmits, a second or more.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        let terminate = terminate.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
    })
}
