//! Shared fixtures: a served folder pair with known files, a server on 127.0.0.1:0,
//! and a raw HTTP/1.1 client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use static_server::{Config, ServeError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A content-hashed shard name, as the dataset builder writes them.
pub const SHARD: &str = "/data/ds/tree-017-top.3f2a9c0d1e2b4a5c.shard";
/// Size of the shard file.
pub const SHARD_LEN: usize = 2 * 1024 * 1024;
/// Text that only the file outside both served folders contains.
pub const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-ROOT";
/// Body of the app's `index.html`.
pub const INDEX: &str = "<!doctype html><title>clip-branches</title>";

/// Deterministic bytes (a linear congruential sequence), so ranges can be checked.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state.to_be_bytes()[0]
        })
        .collect()
}

/// `dist/`, `data/` and an `outside/` folder holding a secret, in a temporary folder.
pub struct Fixture {
    pub root: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let write = |path: &str, bytes: &[u8]| {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        };
        write("outside/secret.txt", SECRET.as_bytes());
        write("dist/index.html", INDEX.as_bytes());
        write("dist/app.js", b"console.log('plain');");
        write("dist/app.js.gz", b"GZIP-BYTES-OF-APP-JS");
        write("dist/app.js.br", b"BROTLI-BYTES-OF-APP-JS");
        write("dist/worker.mjs", b"export {};");
        write(
            "dist/frontend-1a2b3c4d5e6f7a8b.js",
            b"import init from './x';",
        );
        write("dist/frontend-1a2b3c4d5e6f7a8b_bg.wasm", b"\0asm\x01\0\0\0");
        write("dist/style.css", b"body{}");
        write("dist/.env", SECRET.as_bytes());
        write("data/catalog.json", b"{\"datasets\":[\"ds\"]}");
        write("data/ds/manifest.json", b"{\"name\":\"ds\"}");
        write(&SHARD[1..], &pattern(SHARD_LEN));
        write("data/ds/features.0123456789abcdef.bin", &pattern(4096));
        write("data/ds/model.safetensors", b"safetensors");
        write("data/ds/model.mpk", b"mpk");
        write("data/ds/images/0001.webp", b"RIFF....WEBP");
        write("data/ds/images/0002.jpg", b"\xff\xd8\xff");
        write("data/ds/images/0003.png", b"\x89PNG");
        write("data/ds/shared.json.gz", b"GZ-NOT-FOR-RANGES");
        write("data/ds/shared.json", b"{\"shared\":true}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            symlink(
                dir.join("outside/secret.txt"),
                dir.join("data/ds/escape.json"),
            )
            .unwrap();
            symlink(dir.join("outside"), dir.join("data/ds/escape-dir")).unwrap();
            symlink(dir.join("outside/secret.txt"), dir.join("dist/escape.js")).unwrap();
            symlink(
                dir.join("data/ds/manifest.json"),
                dir.join("data/ds/alias.json"),
            )
            .unwrap();
        }
        Self { root }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    pub fn config(&self) -> Config {
        Config::new(&self.path("dist"), &self.path("data")).unwrap()
    }
}

/// A server on an ephemeral loopback port, stopped by [`TestServer::stop`].
pub struct TestServer {
    pub addr: SocketAddr,
    pub fixture: Fixture,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl TestServer {
    /// Serves a fresh fixture with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Serves a fresh fixture with a configuration changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let fixture = Fixture::new();
        let mut config = fixture.config();
        adjust(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            static_server::serve(listener, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            addr,
            fixture,
            stop: Some(stop),
            task,
        }
    }

    /// Signals shutdown (as SIGTERM would in the binary) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for `serve` to return, after [`TestServer::begin_shutdown`].
    pub async fn stopped(self) -> Result<(), ServeError> {
        self.task.await.unwrap()
    }

    /// Signals shutdown and returns the server's own result.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        self.begin_shutdown();
        self.stopped().await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.addr, "GET", path, headers).await
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of a header (names compare case-insensitively); panics naming the
    /// header when it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.maybe_header(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn maybe_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every value of a header that may repeat (such as `Vary`), joined by `, `.
    pub fn all_headers(&self, name: &str) -> String {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect();
        values.join(", ")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `method path` with `headers` and `Connection: close`, reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    exchange(addr, raw.as_bytes()).await
}

/// Writes `raw` bytes as they are and parses what comes back until the server closes.
pub async fn exchange(addr: SocketAddr, raw: &[u8]) -> Response {
    parse_response(&exchange_bytes(addr, raw).await)
}

/// Writes `raw` bytes as they are and returns every byte read until the server closes
/// (nothing at all if it closed without answering).
pub async fn exchange_bytes(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut bytes = Vec::new();
    // A reset after an early answer still leaves the bytes read so far.
    let _ = stream.read_to_end(&mut bytes).await;
    bytes
}

/// Parses one response with a `Content-Length` (or no body) from `bytes`.
pub fn parse_response(bytes: &[u8]) -> Response {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(bytes)));
    let head = std::str::from_utf8(&bytes[..head_end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    Response {
        status,
        headers,
        body: bytes[head_end + 4..].to_vec(),
    }
}

/// Reads a file of the fixture.
pub fn read(fixture: &Fixture, relative: &str) -> Vec<u8> {
    std::fs::read(fixture.path(relative)).unwrap()
}

/// The fixture path of a URL path under `/data/`.
pub fn data_file(url_path: &str) -> String {
    Path::new("data")
        .join(url_path.strip_prefix("/data/").unwrap())
        .to_string_lossy()
        .into_owned()
}
