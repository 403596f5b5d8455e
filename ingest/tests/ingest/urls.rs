//! URL lists against a local server that answers 404, 500 then 200, always 500, too
//! slowly, and with bytes that are no image; then a rerun that resumes from the cache.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use ingest::DownloadOptions;

type Hits = Arc<Mutex<HashMap<String, u32>>>;

/// Serves on a free local port; returns the base URL and the request count per path.
fn serve() -> (String, Hits) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits: Hits = Arc::default();
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_owned();
                let hit = {
                    let mut hits = counter.lock().unwrap();
                    let hit = hits.entry(path.clone()).or_default();
                    *hit += 1;
                    *hit
                };
                let (status, body) = match (path.as_str(), hit) {
                    ("/ok.png", _) => ("200 OK", png(1)),
                    ("/flaky.jpg", 1) => ("500 Internal Server Error", Vec::new()),
                    ("/flaky.jpg", _) => ("200 OK", jpeg(2)),
                    ("/down.png", _) => ("503 Service Unavailable", Vec::new()),
                    ("/junk.png", _) => ("200 OK", b"<html>not an image</html>".to_vec()),
                    ("/slow.png", _) => {
                        std::thread::sleep(Duration::from_secs(3));
                        ("200 OK", png(3))
                    }
                    _ => ("404 Not Found", Vec::new()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    (base, hits)
}

#[test]
fn faults_are_retried_or_reported_and_a_rerun_resumes() {
    let (base, hits) = serve();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.txt");
    fs::write(
        &list,
        format!(
            "{base}/ok.png\ta gradient square\n\
             {base}/missing.png\tgone\n\
             {base}/flaky.jpg\tflaky but fine\n\
             {base}/down.png\tserver down\n\
             {base}/slow.png\ttoo slow\n\
             {base}/junk.png\tnot an image\n\
             not a url\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut options = IngestOptions::new(list, out.clone());
    options.download = DownloadOptions {
        concurrency: 4,
        timeout: Duration::from_millis(250),
        retries: 2,
        backoff: Duration::from_millis(10),
        per_host_interval: Duration::from_millis(1),
        max_bytes: 1 << 20,
    };
    let ingested = run(&options);
    check_output(&out, &ingested);
    assert_eq!(
        kept(&ingested),
        [
            (format!("{base}/ok.png").as_str(), "a gradient square"),
            (format!("{base}/flaky.jpg").as_str(), "flaky but fine")
        ]
    );
    let skips: BTreeMap<String, (&str, &str)> = ingested
        .report
        .skipped_items
        .iter()
        .map(|s| {
            let name = s.source.rsplit('/').next().unwrap().to_owned();
            (name, (s.reason.as_str(), s.detail.as_str()))
        })
        .collect();
    assert_eq!(
        skips["missing.png"],
        ("download_http_status", "HTTP 404 (1 attempt)")
    );
    assert_eq!(
        skips["down.png"],
        ("download_http_status", "HTTP 503 (3 attempts)")
    );
    assert_eq!(skips["slow.png"].0, "download_timeout");
    assert!(
        skips["slow.png"].1.ends_with("(3 attempts)"),
        "{:?}",
        skips["slow.png"]
    );
    assert_eq!(skips["junk.png"].0, "not_an_image");
    assert_eq!(skips["urls.txt:7"].0, "bad_url");
    let count = |path: &str| hits.lock().unwrap().get(path).copied().unwrap_or(0);
    assert_eq!(
        [
            count("/ok.png"),
            count("/missing.png"),
            count("/flaky.jpg"),
            count("/down.png")
        ],
        [1, 1, 2, 3]
    );

    // The rerun fetches only what failed; the cached files are not requested again.
    let again = run(&options);
    assert_eq!(again.written, ingested.written);
    assert_eq!(
        [
            count("/ok.png"),
            count("/missing.png"),
            count("/flaky.jpg"),
            count("/junk.png")
        ],
        [1, 2, 2, 1]
    );
}

#[test]
fn a_csv_of_urls_downloads_too() {
    let (base, _hits) = serve();
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t.csv");
    fs::write(&table, format!("url,caption\n{base}/ok.png,a square\n")).unwrap();
    let mut options = IngestOptions::new(table, dir.path().join("out"));
    options.columns.url = Some("url".into());
    let ingested = run(&options);
    assert_eq!(ingested.items.len(), 1);
    assert_eq!(ingested.items[0].item.caption, "a square");
}
