//! Validators and 304s: ETag with If-None-Match, Last-Modified with If-Modified-Since.

use std::time::{Duration, SystemTime};

use crate::support::{SHARD, TestServer, request};

#[tokio::test]
async fn if_none_match_with_the_current_etag_answers_304() {
    let server = TestServer::start().await;
    for path in [SHARD, "/data/ds/manifest.json", "/", "/search"] {
        let first = server.get(path, &[]).await;
        let etag = first.header("etag").to_owned();
        assert!(
            etag.starts_with('"'),
            "strong validator expected for {path}: {etag}"
        );

        let again = server.get(path, &[("If-None-Match", &etag)]).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty(), "{path}");
        assert_eq!(again.header("etag"), etag, "{path}");
        // A 304 repeats the caching headers of the 200 it stands for.
        assert_eq!(
            again.header("cache-control"),
            first.header("cache-control"),
            "{path}"
        );
        assert_eq!(again.header("vary"), "accept-encoding", "{path}");
        assert_eq!(again.header("cross-origin-embedder-policy"), "require-corp");

        let weak = server
            .get(path, &[("If-None-Match", &format!("W/{etag}"))])
            .await;
        assert_eq!(
            weak.status, 304,
            "weak comparison applies to If-None-Match: {path}"
        );
        let listed = server
            .get(path, &[("If-None-Match", &format!("\"x\", {etag}"))])
            .await;
        assert_eq!(listed.status, 304, "{path}");
        let other = server.get(path, &[("If-None-Match", "\"other\"")]).await;
        assert_eq!(other.status, 200, "{path}");
    }
}

#[tokio::test]
async fn if_modified_since_answers_304_until_the_file_changes() {
    let server = TestServer::start().await;
    let path = "/data/ds/manifest.json";
    let first = server.get(path, &[]).await;
    let last_modified = first.header("last-modified").to_owned();
    let etag = first.header("etag").to_owned();

    let unchanged = server
        .get(path, &[("If-Modified-Since", &last_modified)])
        .await;
    assert_eq!(unchanged.status, 304);
    assert_eq!(unchanged.header("last-modified"), last_modified);
    let head = request(server.addr, "HEAD", path, &[("If-None-Match", &etag)]).await;
    assert_eq!(head.status, 304);

    // Rewrite the file with a later modification time: both validators change.
    let file = server.fixture.path("data/ds/manifest.json");
    std::fs::write(&file, b"{\"name\":\"ds\",\"version\":2}").unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let changed = server
        .get(path, &[("If-Modified-Since", &last_modified)])
        .await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, b"{\"name\":\"ds\",\"version\":2}");
    let changed_tag = server.get(path, &[("If-None-Match", &etag)]).await;
    assert_eq!(changed_tag.status, 200);
    assert_ne!(changed_tag.header("etag"), etag);
}
