//! Header size and count limits, the connection cap and the header read timeout.

use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestServer, exchange, request};

#[tokio::test]
async fn oversized_headers_get_431() {
    let server = TestServer::start_with(|config| {
        config.limits.max_header_bytes = NonZeroUsize::new(4096).unwrap();
    })
    .await;
    let fits = "x".repeat(2000);
    assert_eq!(server.get("/", &[("X-Pad", &fits)]).await.status, 200);
    let too_big = "x".repeat(5000);
    assert_eq!(server.get("/", &[("X-Pad", &too_big)]).await.status, 431);
    let long_path = format!("/{}", "a".repeat(5000));
    assert_eq!(
        request(server.addr, "GET", &long_path, &[]).await.status,
        431
    );
}

#[tokio::test]
async fn too_many_headers_get_431() {
    let server = TestServer::start().await;
    let mut raw = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n".to_owned();
    for index in 0..200 {
        raw.push_str(&format!("X-H{index}: 1\r\n"));
    }
    raw.push_str("\r\n");
    assert_eq!(exchange(server.addr, raw.as_bytes()).await.status, 431);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let server = TestServer::start_with(|config| {
        config.limits.max_connections = NonZeroUsize::new(1).unwrap();
    })
    .await;
    let holder = TcpStream::connect(server.addr).await.unwrap();
    // Let the server accept the holder and take the only slot.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    waiting
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first_byte = [0u8; 1];
    let early =
        tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut first_byte)).await;
    assert!(
        early.is_err(),
        "a second connection was served beyond the cap"
    );

    drop(holder);
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), waiting.read_to_end(&mut answer))
        .await
        .expect("the waiting connection was not served after the slot freed")
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn silent_and_slow_clients_are_cut_off_by_the_header_timeout() {
    let server = TestServer::start_with(|config| {
        config.limits.header_read_timeout = Duration::from_millis(200);
    })
    .await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    for stream in [&mut silent, &mut slow] {
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "connection still open long after the header timeout"
        );
        assert!(!rest.starts_with(b"HTTP/1.1 200"));
    }
}
