//! The structured access log: one `tracing` event per request, target
//! `static_server::access`, with method, path, status, bytes, range, client and time
//! to the response head. Formatted as text or JSON by the subscriber of the binary.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::Response;

/// The log target, for `RUST_LOG` filters.
const TARGET: &str = "static_server::access";

/// Whether access events are logged at all; when not, nothing is collected for them
/// (not even the client address of a connection).
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::INFO)
}

/// What the log line needs from a request, taken before the request is handed on.
pub(crate) struct AccessEntry {
    started: Instant,
    method: Method,
    uri: Uri,
    client: Option<SocketAddr>,
    range: Option<HeaderValue>,
}

impl AccessEntry {
    /// Starts the entry of `request`, or `None` when the access log is off.
    pub(crate) fn start(request: &Request) -> Option<Self> {
        if !enabled() {
            return None;
        }
        Some(Self {
            started: Instant::now(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            client: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0),
            range: request.headers().get(header::RANGE).cloned(),
        })
    }

    /// Logs the entry with the head of `response`.
    pub(crate) fn finish(self, response: &Response) {
        let header_text = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &HeaderValue| value.to_str().ok())
        };
        tracing::info!(
            target: TARGET,
            method = %self.method,
            path = %self.uri,
            status = response.status().as_u16(),
            bytes = header_text(header::CONTENT_LENGTH),
            encoding = header_text(header::CONTENT_ENCODING),
            range = self.range.as_ref().and_then(|value| value.to_str().ok()),
            client = self.client.map(tracing::field::display),
            micros_to_head = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
        );
    }
}
