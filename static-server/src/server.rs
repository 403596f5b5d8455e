//! The accept loop: hyper HTTP/1.1 connections with header limits, a cap on open
//! connections, and graceful shutdown that lets requests in flight finish.
//!
//! `axum::serve` hides hyper's connection builder, so the header-size limit and the
//! header read timeout (which also closes idle keep-alive and slowloris connections)
//! need this loop of our own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::access_log;
use crate::app::StaticHost;
use crate::config::Config;

/// Pause after a failed `accept` (out of file descriptors, most often) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How [`serve`] can end other than cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The shutdown grace ran out with connections still open; they were dropped.
    #[error(
        "{open_connections} connections still open when the shutdown grace of {grace:?} ran out"
    )]
    ShutdownGraceExpired {
        /// Connections dropped.
        open_connections: usize,
        /// The grace that ran out.
        grace: Duration,
    },
}

/// Serves [`crate::app`](fn@crate::app)`(config)` on `listener` until `shutdown` completes, then stops
/// accepting, lets requests in flight finish (within `config.limits.shutdown_grace`)
/// and returns.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let host = StaticHost::new(config);
    let limits = config.limits;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes.get())
        .max_headers(limits.max_headers.get());
    // Shared, not cloned: every byte a connection task holds counts 10,000 times over
    // when that many clients sit idle.
    let http = Arc::new(http);
    let header_read_timeout = limits.header_read_timeout;
    let graceful = GracefulShutdown::new();
    // Tells connections still waiting for their first request byte to close.
    let (stopping_sender, stopping_receiver) = tokio::sync::watch::channel(());
    let connection_slots = Arc::new(Semaphore::new(limits.max_connections.get()));
    tokio::pin!(shutdown);

    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = connection_slots.clone().acquire_owned() => slot,
        };
        // The semaphore is never closed, so this does not happen; leave cleanly if it does.
        let Ok(slot) = slot else { break };
        let (stream, client) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %client, "could not set TCP_NODELAY");
        }
        let host = host.clone();
        let http = Arc::clone(&http);
        let watcher = graceful.watcher();
        let mut stopping = stopping_receiver.clone();
        tokio::spawn(async move {
            // hyper allocates its 8 KiB read buffer and its connection state as soon as
            // it polls a connection, so an idle connection waits here, holding only its
            // socket, for its first request byte. A peek, not `readable()`: tokio marks
            // an accepted socket readable before any byte arrives. The wait is bounded
            // like hyper's own header wait.
            let mut first_byte = [0; 1];
            let request_arrived = tokio::select! {
                peeked = stream.peek(&mut first_byte) => matches!(peeked, Ok(1..)),
                () = tokio::time::sleep(header_read_timeout) => false,
                _ = stopping.changed() => false,
            };
            if request_arrived {
                // The client address is for the access log only; inserting it costs an
                // allocation per request.
                let client_for_log = access_log::enabled().then_some(client);
                let service = host.map_request(move |request: hyper::Request<Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    if let Some(client) = client_for_log {
                        request
                            .extensions_mut()
                            .insert(ConnectInfo::<SocketAddr>(client));
                    }
                    request
                });
                // Boxed so that the state of a busy connection does not size every
                // idle one.
                let connection = Box::pin(watcher.watch(
                    http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)),
                ));
                if let Err(error) = connection.await {
                    tracing::debug!(%error, %client, "connection ended with an error");
                }
            }
            drop(slot);
        });
    }

    drop(listener);
    let _ = stopping_sender.send(());
    let open_connections = graceful.count();
    tracing::info!(open_connections, "shutting down");
    tokio::select! {
        () = graceful.shutdown() => Ok(()),
        () = tokio::time::sleep(limits.shutdown_grace) => Err(ServeError::ShutdownGraceExpired {
            open_connections: connection_slots_in_use(&connection_slots, limits.max_connections.get()),
            grace: limits.shutdown_grace,
        }),
    }
}

fn connection_slots_in_use(slots: &Semaphore, max_connections: usize) -> usize {
    max_connections.saturating_sub(slots.available_permits())
}
