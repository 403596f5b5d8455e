//! The SPA fallback: app routes get index.html; missing files, above all data files,
//! are plain 404s.

use crate::support::{INDEX, TestServer};

#[tokio::test]
async fn app_routes_get_index_html() {
    let server = TestServer::start().await;
    for path in [
        "/",
        "/search",
        "/dataset/cifar",
        "/search/",
        "/search?q=red%20car",
    ] {
        let response = server.get(path, &[]).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.text(), INDEX, "{path}");
        assert!(
            response.header("content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(response.header("cache-control"), "no-cache", "{path}");
    }
}

#[tokio::test]
async fn missing_files_are_404_never_the_app_page() {
    let server = TestServer::start().await;
    for path in [
        "/missing.js",
        "/frontend-ffffffffffffffff_bg.wasm",
        "/data/ds/missing.3f2a9c0d1e2b4a5c.shard",
        "/data/ds/manifest.jsn",
        "/data/unknown-dataset/manifest.json",
        // Under /data even an extension-less path is a file, not an app route.
        "/data/ds/nested/route",
        "/data/ds/",
        "/data/",
        "/data",
    ] {
        let response = server.get(path, &[]).await;
        assert_eq!(response.status, 404, "{path}");
        assert!(!response.text().contains(INDEX), "{path}");
    }
}
