//! Hostile paths, sent raw so that no client normalises them: none may reach a file
//! outside the served folders, a hidden file, or the SPA page.

use crate::support::{INDEX, SECRET, TestServer, exchange_bytes, parse_response};

/// Request targets (the part between the method and `HTTP/1.1`), byte for byte.
const HOSTILE_TARGETS: &[&[u8]] = &[
    b"/../outside/secret.txt",
    b"/data/../../outside/secret.txt",
    b"/data/ds/../../../outside/secret.txt",
    b"/data/./ds/../../outside/secret.txt",
    b"/%2e%2e/outside/secret.txt",
    b"/%2E%2E/outside/secret.txt",
    b"/.%2e/outside/secret.txt",
    b"/%2e./outside/secret.txt",
    b"/data/%2e%2e/%2e%2e/outside/secret.txt",
    b"/data/ds/%2e%2e%2f%2e%2e%2foutside/secret.txt",
    b"/..%2foutside%2fsecret.txt",
    b"/..%5coutside%5csecret.txt",
    b"/..\\outside\\secret.txt",
    b"/data\\..\\..\\outside\\secret.txt",
    b"/%252e%252e/%252e%252e/outside/secret.txt",
    b"/%c0%ae%c0%ae/outside/secret.txt",
    b"/%c0%2e%c0%2e/outside/secret.txt",
    b"/data//..//..//outside/secret.txt",
    b"//outside/secret.txt",
    b"/data/ds/images/..%2f..%2f..%2f..%2foutside/secret.txt",
    b"/index.html%00.js",
    b"/data/ds/manifest.json%00",
    b"/%00",
    b"/.%00./outside/secret.txt",
    b"/data/ds/manifest.json%0d%0aX-Injected:%201",
    b"/data/ds/\x00",
    b"/.env",
    b"/data/%2e/ds/manifest.json",
    b"/data/ds/escape.json",
    b"/data/ds/escape-dir/secret.txt",
    b"/escape.js",
    b"http://localhost/../outside/secret.txt",
    b"../outside/secret.txt",
    b"/data/ds/..;/..;/outside/secret.txt",
    b"/data/ds/%u002e%u002e/outside/secret.txt",
];

#[tokio::test]
async fn hostile_paths_are_refused() {
    let server = TestServer::start().await;
    assert!(HOSTILE_TARGETS.len() >= 20);
    for target in HOSTILE_TARGETS {
        let shown = String::from_utf8_lossy(target);
        let mut raw = b"GET ".to_vec();
        raw.extend_from_slice(target);
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let bytes = exchange_bytes(server.addr, &raw).await;
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(SECRET), "{shown} leaked the secret: {text}");
        assert!(
            !text.contains(INDEX),
            "{shown} fell back to the app page: {text}"
        );
        // Closing without an answer is a refusal too (hyper does it for some targets).
        if !bytes.is_empty() {
            let response = parse_response(&bytes);
            assert!(
                matches!(response.status, 400 | 404),
                "{shown} answered {}: {text}",
                response.status
            );
        }
    }
    assert!(
        server.stop().await.is_ok(),
        "the server did not survive the hostile paths"
    );
}

#[tokio::test]
async fn symlinks_inside_the_root_are_served() {
    let server = TestServer::start().await;
    let response = server.get("/data/ds/alias.json", &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"{\"name\":\"ds\"}");
}

/// A name no file has is a 404, however the file system says so: a symlink loop
/// (relative, absolute, or through two links), a file used as a folder, a name too long.
#[cfg(unix)]
#[tokio::test]
async fn names_that_no_file_has_are_not_found() {
    use std::os::unix::fs::symlink;
    let server = TestServer::start().await;
    let ds = server.fixture.path("data/ds");
    symlink("self.json", ds.join("self.json")).unwrap();
    symlink(ds.join("absolute-self.json"), ds.join("absolute-self.json")).unwrap();
    symlink("pong.json", ds.join("ping.json")).unwrap();
    symlink("ping.json", ds.join("pong.json")).unwrap();
    let too_long = format!("/data/ds/{}.json", "a".repeat(300));
    for path in [
        "/data/ds/self.json",
        "/data/ds/absolute-self.json",
        "/data/ds/ping.json",
        "/data/ds/self.json/x.json",
        "/data/ds/manifest.json/x.json",
        too_long.as_str(),
    ] {
        let response = server.get(path, &[]).await;
        assert_eq!(response.status, 404, "{path}: {}", response.text());
    }
}

#[tokio::test]
async fn percent_encoded_ordinary_characters_still_work() {
    let server = TestServer::start().await;
    std::fs::write(server.fixture.path("data/ds/red car.json"), b"{}").unwrap();
    let response = server.get("/data/ds/red%20car.json", &[]).await;
    assert_eq!(response.status, 200);
    let response = server.get("/data/ds/%6danifest.json", &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"{\"name\":\"ds\"}");
}
