//! CORS for `/data/*` (the web-component case): off by default, one origin or any.

use static_server::CorsOrigin;

use crate::support::{SHARD, TestServer, request};

const ORIGIN: &str = "https://app.example";

fn preflight_headers(origin: &str) -> [(&str, &str); 3] {
    [
        ("Origin", origin),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "range"),
    ]
}

#[tokio::test]
async fn without_cors_no_cross_origin_access_is_granted() {
    let server = TestServer::start().await;
    let response = server.get(SHARD, &[("Origin", ORIGIN)]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.maybe_header("access-control-allow-origin"), None);
    assert_eq!(response.maybe_header("cross-origin-resource-policy"), None);
    let preflight = request(server.addr, "OPTIONS", SHARD, &preflight_headers(ORIGIN)).await;
    assert_eq!(preflight.maybe_header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn one_origin_may_read_data_with_ranges_and_validators() {
    let server = TestServer::start_with(|config| {
        config.cors = Some(ORIGIN.parse().unwrap());
    })
    .await;

    let response = server
        .get(SHARD, &[("Origin", ORIGIN), ("Range", "bytes=0-9")])
        .await;
    assert_eq!(response.status, 206);
    assert_eq!(response.header("access-control-allow-origin"), ORIGIN);
    let exposed = response
        .header("access-control-expose-headers")
        .to_ascii_lowercase();
    for name in ["content-range", "content-length", "etag"] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    let vary = response.all_headers("vary").to_ascii_lowercase();
    assert!(
        vary.contains("origin") && vary.contains("accept-encoding"),
        "{vary}"
    );
    assert_eq!(
        response.header("cross-origin-resource-policy"),
        "cross-origin"
    );

    let preflight = request(server.addr, "OPTIONS", SHARD, &preflight_headers(ORIGIN)).await;
    assert!(
        matches!(preflight.status, 200 | 204),
        "{}",
        preflight.status
    );
    assert_eq!(preflight.header("access-control-allow-origin"), ORIGIN);
    assert!(
        preflight
            .header("access-control-allow-methods")
            .contains("GET")
    );
    assert!(
        preflight
            .header("access-control-allow-headers")
            .contains("range")
    );
    assert!(preflight.maybe_header("access-control-max-age").is_some());

    let stranger = server
        .get(SHARD, &[("Origin", "https://evil.example")])
        .await;
    assert_eq!(stranger.maybe_header("access-control-allow-origin"), None);

    // The app itself is not shared cross-origin.
    let app = server.get("/", &[("Origin", ORIGIN)]).await;
    assert_eq!(app.maybe_header("access-control-allow-origin"), None);
    assert_eq!(app.maybe_header("cross-origin-resource-policy"), None);
}

#[tokio::test]
async fn cors_app_shares_the_app_files_with_the_origin_too() {
    let server = TestServer::start_with(|config| {
        config.cors = Some(ORIGIN.parse().unwrap());
        config.cors_app = true;
    })
    .await;
    let app = server.get("/", &[("Origin", ORIGIN)]).await;
    assert_eq!(app.status, 200);
    assert_eq!(app.header("access-control-allow-origin"), ORIGIN);
    assert_eq!(app.header("cross-origin-resource-policy"), "cross-origin");
    let stranger = server.get("/", &[("Origin", "https://evil.example")]).await;
    assert_eq!(stranger.maybe_header("access-control-allow-origin"), None);
    let data = server.get(SHARD, &[("Origin", ORIGIN)]).await;
    assert_eq!(data.header("access-control-allow-origin"), ORIGIN);
}

#[tokio::test]
async fn any_origin_gets_a_wildcard() {
    let server = TestServer::start_with(|config| config.cors = Some(CorsOrigin::Any)).await;
    let response = server
        .get("/data/ds/manifest.json", &[("Origin", ORIGIN)])
        .await;
    assert_eq!(response.header("access-control-allow-origin"), "*");
    let preflight = request(server.addr, "OPTIONS", SHARD, &preflight_headers(ORIGIN)).await;
    assert_eq!(preflight.header("access-control-allow-origin"), "*");
}
