//! What a request must carry besides its path: one `Host` header in HTTP/1.1
//! (RFC 9112 §3.2), at most one in HTTP/1.0.

use crate::support::{exchange, request};

#[tokio::test]
async fn host_headers_missing_from_http_1_1_or_repeated_are_bad_requests() {
    let server = crate::support::TestServer::start().await;
    for (raw, status) in [
        (
            "GET /data/ds/manifest.json HTTP/1.1\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "GET /data/ds/manifest.json HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "GET /data/ds/manifest.json HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
        ),
        ("GET /data/ds/manifest.json HTTP/1.0\r\n\r\n", 200),
    ] {
        let response = exchange(server.addr, raw.as_bytes()).await;
        assert_eq!(response.status, status, "{raw:?}: {}", response.text());
    }
    let with_host = request(server.addr, "GET", "/data/ds/manifest.json", &[]).await;
    assert_eq!(with_host.status, 200);
}
