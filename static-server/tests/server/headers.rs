//! Content types, Cache-Control, cross-origin isolation and precompressed variants.

use crate::support::{INDEX, SHARD, TestServer, request};

#[tokio::test]
async fn project_file_kinds_get_their_content_types() {
    let server = TestServer::start().await;
    let cases = [
        ("/", "text/html"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/worker.mjs", "text/javascript; charset=utf-8"),
        ("/frontend-1a2b3c4d5e6f7a8b_bg.wasm", "application/wasm"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/data/catalog.json", "application/json"),
        ("/data/ds/manifest.json", "application/json"),
        (SHARD, "application/octet-stream"),
        (
            "/data/ds/features.0123456789abcdef.bin",
            "application/octet-stream",
        ),
        ("/data/ds/model.safetensors", "application/octet-stream"),
        ("/data/ds/model.mpk", "application/octet-stream"),
        ("/data/ds/images/0001.webp", "image/webp"),
        ("/data/ds/images/0002.jpg", "image/jpeg"),
        ("/data/ds/images/0003.png", "image/png"),
    ];
    for (path, content_type) in cases {
        let response = server.get(path, &[]).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.header("content-type"), content_type, "{path}");
        assert_eq!(
            response.header("x-content-type-options"),
            "nosniff",
            "{path}"
        );
    }
}

#[tokio::test]
async fn hashed_files_are_immutable_and_the_rest_revalidated() {
    let server = TestServer::start().await;
    let immutable = "public, max-age=31536000, immutable";
    for path in [
        SHARD,
        "/data/ds/features.0123456789abcdef.bin",
        "/frontend-1a2b3c4d5e6f7a8b.js",
        "/frontend-1a2b3c4d5e6f7a8b_bg.wasm",
    ] {
        let response = server.get(path, &[]).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.header("cache-control"), immutable, "{path}");
    }
    for path in [
        "/",
        "/index.html",
        "/search",
        "/app.js",
        "/data/catalog.json",
        "/data/ds/manifest.json",
        "/data/ds/images/0001.webp",
    ] {
        let response = server.get(path, &[]).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.header("cache-control"), "no-cache", "{path}");
    }
    // A 404 for a hashed name must not be cached for a year.
    let missing = server
        .get("/data/ds/gone.3f2a9c0d1e2b4a5c.shard", &[])
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("cache-control"), "no-cache");
}

#[tokio::test]
async fn every_answer_is_cross_origin_isolated_by_default() {
    let server = TestServer::start().await;
    for path in [
        "/",
        "/search",
        SHARD,
        "/missing.js",
        "/data/ds/none.json",
        "/a%00",
    ] {
        let response = server.get(path, &[]).await;
        assert_eq!(
            response.header("cross-origin-opener-policy"),
            "same-origin",
            "{path}"
        );
        assert_eq!(
            response.header("cross-origin-embedder-policy"),
            "require-corp",
            "{path}"
        );
    }
    let not_isolated = TestServer::start_with(|config| config.cross_origin_isolation = false).await;
    let response = not_isolated.get("/", &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.maybe_header("cross-origin-opener-policy"), None);
    assert_eq!(response.maybe_header("cross-origin-embedder-policy"), None);
}

#[tokio::test]
async fn precompressed_variants_follow_accept_encoding() {
    let server = TestServer::start().await;
    let brotli = server
        .get("/app.js", &[("Accept-Encoding", "gzip, br")])
        .await;
    assert_eq!(brotli.header("content-encoding"), "br");
    assert_eq!(brotli.body, b"BROTLI-BYTES-OF-APP-JS");
    assert_eq!(
        brotli.header("content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(brotli.header("vary"), "accept-encoding");

    let gzip = server.get("/app.js", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gzip.header("content-encoding"), "gzip");
    assert_eq!(gzip.body, b"GZIP-BYTES-OF-APP-JS");
    // Each encoding is its own representation, with its own strong validator.
    assert_ne!(gzip.header("etag"), brotli.header("etag"));

    let plain = server.get("/app.js", &[]).await;
    assert_eq!(plain.maybe_header("content-encoding"), None);
    assert_eq!(plain.body, b"console.log('plain');");
    assert_eq!(plain.header("vary"), "accept-encoding");

    // No variant on disk: the identity file, whatever the client accepts.
    let style = server
        .get("/style.css", &[("Accept-Encoding", "br, gzip")])
        .await;
    assert_eq!(style.maybe_header("content-encoding"), None);
    assert_eq!(style.body, b"body{}");
}

#[tokio::test]
async fn head_answers_headers_without_a_body() {
    let server = TestServer::start().await;
    let get = server.get(SHARD, &[]).await;
    let head = request(server.addr, "HEAD", SHARD, &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in [
        "content-length",
        "etag",
        "last-modified",
        "content-type",
        "cache-control",
    ] {
        assert_eq!(head.header(name), get.header(name), "{name}");
    }
    let index = server.get("/", &[]).await;
    assert_eq!(index.text(), INDEX);
}

#[tokio::test]
async fn methods_other_than_get_and_head_are_refused() {
    let server = TestServer::start().await;
    for method in ["POST", "PUT", "DELETE"] {
        let response = request(server.addr, method, SHARD, &[("Content-Length", "0")]).await;
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("allow"), "GET,HEAD", "{method}");
    }
}
