//! Graceful shutdown: requests in flight complete, idle connections do not hold the
//! server, new connections are refused, and a stalled client cannot hold it forever.

use std::time::Duration;

use static_server::ServeError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestServer, parse_response, pattern};

/// Larger than loopback socket buffers, so the answer is still being written when the
/// shutdown signal comes.
const BIG_LEN: usize = 48 * 1024 * 1024;

async fn start_big_download(server: &TestServer) -> (TcpStream, Vec<u8>) {
    std::fs::write(server.fixture.path("data/big.bin"), pattern(BIG_LEN)).unwrap();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /data/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut start = vec![0u8; 64 * 1024];
    let read = stream.read(&mut start).await.unwrap();
    start.truncate(read);
    assert!(start.starts_with(b"HTTP/1.1 200"));
    (stream, start)
}

#[tokio::test]
async fn requests_in_flight_complete_after_the_signal() {
    let mut server = TestServer::start().await;
    let (mut download, mut bytes) = start_big_download(&server).await;
    let idle = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "new connections are accepted after the shutdown signal"
    );

    download.read_to_end(&mut bytes).await.unwrap();
    let response = parse_response(&bytes);
    assert_eq!(response.status, 200);
    assert_eq!(response.body.len(), BIG_LEN);
    assert!(response.body == pattern(BIG_LEN), "body bytes differ");
    assert!(server.stopped().await.is_ok());
    drop(idle);
}

#[tokio::test]
async fn a_stalled_client_is_dropped_when_the_grace_runs_out() {
    let mut server = TestServer::start_with(|config| {
        config.limits.shutdown_grace = Duration::from_millis(200);
    })
    .await;
    let (_stalled, _) = start_big_download(&server).await;
    server.begin_shutdown();
    let outcome = tokio::time::timeout(Duration::from_secs(10), server.stopped())
        .await
        .expect("serve did not return after its grace");
    assert!(
        matches!(
            outcome,
            Err(ServeError::ShutdownGraceExpired {
                open_connections: 1,
                ..
            })
        ),
        "{outcome:?}"
    );
}
