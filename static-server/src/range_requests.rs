//! What tower-http 0.7's `ServeDir` leaves out of HTTP Range handling, added around it.
//!
//! - `If-Range` is ignored by `ServeDir`: a client resuming a download of a file that
//!   changed would splice old and new bytes. Here a range answer whose validator does
//!   not match `If-Range` is replaced by the full file (RFC 9110 §13.1.5).
//! - `ServeDir` would answer a range of a precompressed variant, with
//!   `Content-Encoding`; a browser cannot decode a slice of a gzip stream. A range
//!   request is therefore always answered from the identity bytes.
//! - `ServeDir` answers 416 to a range unit other than `bytes`, even `Bytes`; RFC 9110
//!   §14.1 makes unit names case-insensitive and §14.2 says to ignore an unknown one, so
//!   `Bytes` is read as `bytes` and any other unit dropped (the whole file is sent).
//! - `ServeDir` answers 416 to `bytes=-N` with `N` over the file's length; RFC 9110
//!   §14.1.3 says the whole file is the suffix then, so that range is asked again as
//!   `bytes=0-`.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use tower::{Service, ServiceExt};

/// Answers `request` with `files`, preparing range requests for `ServeDir` and
/// enforcing `If-Range` (each of which may take a second call).
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
    let Some(range) = request.headers().get(header::RANGE) else {
        return run(files, request).await;
    };
    let Some(range) = in_lowercase_bytes_unit(range) else {
        request.headers_mut().remove(header::RANGE);
        return run(files, request).await;
    };
    let suffix = is_suffix_range(&range);
    request.headers_mut().insert(header::RANGE, range);
    request.headers_mut().remove(header::ACCEPT_ENCODING);
    let whole_file_as_a_range = suffix.then(|| {
        let mut whole = copy_without_body(&request);
        whole
            .headers_mut()
            .insert(header::RANGE, HeaderValue::from_static("bytes=0-"));
        whole
    });
    let if_range_and_full_request = request.headers().get(header::IF_RANGE).map(|if_range| {
        let mut full = copy_without_body(&request);
        full.headers_mut().remove(header::RANGE);
        full.headers_mut().remove(header::IF_RANGE);
        (if_range.clone(), full)
    });

    let mut response = run(files.clone(), request).await;
    if response.status() == StatusCode::RANGE_NOT_SATISFIABLE
        && let Some(whole) = whole_file_as_a_range
    {
        response = run(files.clone(), whole).await;
    }
    match if_range_and_full_request {
        Some((if_range, full_request))
            if response.status() == StatusCode::PARTIAL_CONTENT
                && !if_range_matches(&if_range, response.headers()) =>
        {
            run(files, full_request).await
        }
        _ => response,
    }
}

/// `range` spelt as `ServeDir` reads it (`bytes=...`; unit names are case-insensitive,
/// RFC 9110 §14.1), or `None` for another unit.
fn in_lowercase_bytes_unit(range: &HeaderValue) -> Option<HeaderValue> {
    const UNIT: &[u8] = b"bytes=";
    let bytes = range.as_bytes();
    let unit = bytes.get(..UNIT.len())?;
    if unit == UNIT {
        Some(range.clone())
    } else if unit.eq_ignore_ascii_case(UNIT) {
        HeaderValue::from_bytes(&[UNIT, &bytes[UNIT.len()..]].concat()).ok()
    } else {
        None
    }
}

/// Whether `range` asks for one suffix of at least one byte (`bytes=-N`, `N > 0`).
fn is_suffix_range(range: &HeaderValue) -> bool {
    range
        .as_bytes()
        .strip_prefix(b"bytes=-")
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse::<u64>().ok())
        .is_some_and(|length| length > 0)
}

/// `request` without its body, to ask again: file requests carry none (only GET and
/// HEAD reach the files).
fn copy_without_body(request: &Request) -> Request {
    let mut copy = Request::new(Body::empty());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
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
