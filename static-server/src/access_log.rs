//! The structured access log: one `tracing` event per request, target
//! `static_server::access`, with method, path, status, bytes, range, client and time
//! to the response head. Formatted as text or JSON by the subscriber of the binary.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// Middleware: logs every request once its response head is ready.
pub(crate) async fn log_access(request: Request, next: Next) -> Response {
    if !tracing::enabled!(target: "static_server::access", tracing::Level::INFO) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let range = request.headers().get(header::RANGE).cloned();
    let response = next.run(request).await;
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value: &axum::http::HeaderValue| value.to_str().ok())
    };
    tracing::info!(
        target: "static_server::access",
        method = %method,
        path = %uri,
        status = response.status().as_u16(),
        bytes = header_text(header::CONTENT_LENGTH),
        encoding = header_text(header::CONTENT_ENCODING),
        range = range.as_ref().and_then(|value| value.to_str().ok()),
        client = client.map(tracing::field::display),
        micros_to_head = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
    );
    response
}
