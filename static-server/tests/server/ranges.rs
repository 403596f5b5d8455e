//! HTTP Range requests: 206 slices, 416s, multi-range, other units, If-Range, and identity
//! bytes for ranges even when a precompressed variant exists.

use crate::support::{SHARD, SHARD_LEN, TestServer, data_file, read};

#[tokio::test]
async fn single_ranges_answer_206_with_the_exact_slice() {
    let server = TestServer::start().await;
    let file = read(&server.fixture, &data_file(SHARD));
    let len = SHARD_LEN;
    let one_mb = 1024 * 1024;
    let cases = [
        (format!("bytes=0-{}", one_mb - 1), 0, one_mb - 1),
        (format!("bytes={}-{}", 4096, 4096 + 499), 4096, 4595),
        (format!("bytes={}-", len - 10), len - 10, len - 1),
        ("bytes=-100".to_owned(), len - 100, len - 1),
        // An end past the file is cut to the file (RFC 9110 §14.1.2).
        (
            format!("bytes={}-{}", len - 5, len + 1000),
            len - 5,
            len - 1,
        ),
        // So is a suffix longer than the file (§14.1.3).
        (format!("bytes=-{len}"), 0, len - 1),
        (format!("bytes=-{}", len + 1000), 0, len - 1),
        // Unit names are case-insensitive (§14.1).
        ("BYTES=0-9".to_owned(), 0, 9),
    ];
    for (range, first, last) in cases {
        let response = server.get(SHARD, &[("Range", &range)]).await;
        assert_eq!(response.status, 206, "{range}");
        assert_eq!(
            response.header("content-range"),
            format!("bytes {first}-{last}/{len}"),
            "{range}"
        );
        assert_eq!(
            response.header("content-length"),
            (last - first + 1).to_string()
        );
        assert_eq!(response.body, file[first..=last], "{range}");
        assert_eq!(response.header("accept-ranges"), "bytes");
        assert_eq!(response.header("content-type"), "application/octet-stream");
    }
}

#[tokio::test]
async fn unsatisfiable_ranges_answer_416_with_the_length() {
    let server = TestServer::start().await;
    for range in [
        format!("bytes={SHARD_LEN}-"),
        format!("bytes={}-{}", SHARD_LEN + 1, SHARD_LEN + 10),
        "bytes=10-5".to_owned(),
        "bytes=abc".to_owned(),
    ] {
        let response = server.get(SHARD, &[("Range", &range)]).await;
        assert_eq!(response.status, 416, "{range}");
        assert_eq!(
            response.header("content-range"),
            format!("bytes */{SHARD_LEN}"),
            "{range}"
        );
        assert!(response.body.is_empty(), "{range}");
    }
}

#[tokio::test]
async fn ranges_in_other_units_are_ignored() {
    let server = TestServer::start().await;
    for range in ["items=0-1", "none", "by=0-1"] {
        let response = server.get(SHARD, &[("Range", range)]).await;
        assert_eq!(response.status, 200, "{range}");
        assert_eq!(response.body.len(), SHARD_LEN, "{range}");
        assert_eq!(response.maybe_header("content-range"), None, "{range}");
    }
}

#[tokio::test]
async fn multi_range_requests_get_the_whole_file() {
    let server = TestServer::start().await;
    let response = server.get(SHARD, &[("Range", "bytes=0-9,100-109")]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body.len(), SHARD_LEN);
}

#[tokio::test]
async fn ranges_are_served_from_identity_bytes_never_from_a_compressed_variant() {
    let server = TestServer::start().await;
    let response = server
        .get(
            "/data/ds/shared.json",
            &[("Range", "bytes=0-4"), ("Accept-Encoding", "gzip")],
        )
        .await;
    assert_eq!(response.status, 206);
    assert_eq!(response.maybe_header("content-encoding"), None);
    assert_eq!(response.body, b"{\"sha");
}

#[tokio::test]
async fn if_range_keeps_the_range_only_for_the_current_validator() {
    let server = TestServer::start().await;
    let full = server.get(SHARD, &[]).await;
    let etag = full.header("etag").to_owned();
    let last_modified = full.header("last-modified").to_owned();
    let ranged = |validator: String| {
        let server = &server;
        async move {
            server
                .get(SHARD, &[("Range", "bytes=0-99"), ("If-Range", &validator)])
                .await
        }
    };

    let same_tag = ranged(etag.clone()).await;
    assert_eq!(same_tag.status, 206);
    assert_eq!(same_tag.body, full.body[..100]);
    assert_eq!(ranged(last_modified).await.status, 206);

    for stale in [
        "\"some-older-version\"".to_owned(),
        format!("W/{etag}"),
        "Thu, 01 Jan 1998 00:00:00 GMT".to_owned(),
    ] {
        let response = ranged(stale.clone()).await;
        assert_eq!(response.status, 200, "{stale}");
        assert_eq!(response.body.len(), SHARD_LEN, "{stale}");
        assert_eq!(response.maybe_header("content-range"), None, "{stale}");
    }
}
