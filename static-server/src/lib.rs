//! A static file server for clip-branches: the built frontend at `/`, dataset folders
//! under `/data/`, and the headers the app needs from any static host.
//!
//! The browser does all the search work, so the server only has to serve files well:
//! HTTP Range requests for leaf ranges of big shards, validators and 304s, long-lived
//! caching of content-hashed files, precompressed variants, cross-origin isolation
//! (for `SharedArrayBuffer` and wasm threads) and optional CORS for `/data/`. Its
//! behaviour is the contract that any other static host must meet (see the README).
//!
//! [`app`](fn@app) builds the [`axum::Router`]; [`serve`] runs it on a listener with connection
//! and header limits, an access log and graceful shutdown.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! use static_server::{Config, serve};
//!
//! let config = Config::new(Path::new("dist"), Path::new("datasets"))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, &config, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

mod access_log;
mod app;
mod config;
mod file_policy;
mod range_requests;
mod request_path;
mod rooted_backend;
mod server;

pub use app::app;
pub use config::{Config, ConfigError, CorsOrigin, Limits};
pub use file_policy::{cache_control_for, content_type_for, is_content_hashed};
pub use request_path::{PathRefusal, check_request_path};
pub use server::{ServeError, serve};
