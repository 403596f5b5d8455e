//! What tower-http 0.7's `ServeDir` leaves out of HTTP Range handling, added around it.
//!
//! - `If-Range` is ignored by `ServeDir`: a client resuming a download of a file that
//!   changed would splice old and new bytes. Here a range answer whose validator does
//!   not match `If-Range` is replaced by the full file (RFC 9110 §13.1.5).
//! - `ServeDir` would answer a range of a precompressed variant, with
//!   `Content-Encoding`; a browser cannot decode a slice of a gzip stream. A range
//!   request is therefore always answered from the identity bytes.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use tower::{Service, ServiceExt};

/// Answers `request` with `files`, preparing range requests for `ServeDir` and
/// enforcing `If-Range` (which may take a second call).
pub(crate) async fn handle_range_requests<S>(files: S, mut request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    let run = |files: S, request| async move {
        match files.oneshot(request).await {
            Ok(response) => response,
            Err(infallible) => match infallible {},
        }
    };
    if !request.headers().contains_key(header::RANGE) {
        return run(files, request).await;
    }
    request.headers_mut().remove(header::ACCEPT_ENCODING);
    let Some(if_range) = request.headers().get(header::IF_RANGE).cloned() else {
        return run(files, request).await;
    };
    // File requests carry no body (only GET and HEAD reach the files), so the request
    // can be rebuilt without its range should the validator not match.
    let mut full_request = Request::new(Body::empty());
    *full_request.method_mut() = request.method().clone();
    *full_request.uri_mut() = request.uri().clone();
    *full_request.version_mut() = request.version();
    *full_request.headers_mut() = request.headers().clone();
    full_request.headers_mut().remove(header::RANGE);
    full_request.headers_mut().remove(header::IF_RANGE);

    let response = run(files.clone(), request).await;
    if response.status() != StatusCode::PARTIAL_CONTENT
        || if_range_matches(&if_range, response.headers())
    {
        return response;
    }
    run(files, full_request).await
}

/// Whether an `If-Range` validator matches the representation described by
/// `response_headers`: an entity tag by strong comparison (a weak tag never matches),
/// a date by exact equality with `Last-Modified`.
fn if_range_matches(if_range: &HeaderValue, response_headers: &HeaderMap) -> bool {
    let validator = if_range.as_bytes();
    if validator.starts_with(b"W/") {
        return false;
    }
    let current = if validator.starts_with(b"\"") {
        response_headers.get(header::ETAG)
    } else {
        response_headers.get(header::LAST_MODIFIED)
    };
    current.is_some_and(|current| current.as_bytes() == validator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(etag: &'static str, last_modified: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, HeaderValue::from_static(etag));
        headers.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_static(last_modified),
        );
        headers
    }

    #[test]
    fn if_range_compares_tags_strongly_and_dates_exactly() {
        let current = headers("\"abc\"", "Wed, 21 Oct 2026 07:28:00 GMT");
        let matches =
            |value: &'static str| if_range_matches(&HeaderValue::from_static(value), &current);
        assert!(matches("\"abc\""));
        assert!(matches("Wed, 21 Oct 2026 07:28:00 GMT"));
        assert!(!matches("\"abd\""));
        assert!(!matches("W/\"abc\""));
        assert!(!matches("Wed, 21 Oct 2026 07:28:01 GMT"));
        let weak = headers("W/\"abc\"", "Wed, 21 Oct 2026 07:28:00 GMT");
        assert!(!if_range_matches(
            &HeaderValue::from_static("\"abc\""),
            &weak
        ));
    }
}
