//! Hub downloads (`--model ORG/NAME`) against a local stand-in for the Hugging Face hub: a
//! small std::net server that serves the committed fixtures in the hub's URL layout, with
//! Git LFS style redirects and headers, range requests, and chosen faults.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use burn::tensor::Device;
use precompute::model_files::ModelFiles;
use precompute::model_files::hub::{Hub, HubName};

/// How the stand-in hub misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Announces the whole file, sends half of it, closes.
    Truncate,
    /// Announces a wrong SHA-256 for `.safetensors` files.
    WrongSha,
}

/// A stand-in hub serving `root/{org}/{name}/{file}` at `/{org}/{name}/resolve/{rev}/{file}`;
/// `.safetensors` files behave as Git LFS files: HEAD and GET answer with a redirect to
/// `/lfs/...`, and the redirect carries `X-Linked-Etag` (SHA-256) and `X-Linked-Size`.
struct StandIn {
    endpoint: String,
    /// The `Range` headers of the GET requests received.
    ranges: Arc<Mutex<Vec<String>>>,
}

fn stand_in(root: &Path, fault: Fault) -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let (root, seen) = (root.to_owned(), ranges.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream, &root, fault, &seen);
        }
    });
    StandIn { endpoint, ranges }
}

fn answer(mut stream: TcpStream, root: &Path, fault: Fault, ranges: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut range = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
    let (lfs, target) = match target.strip_prefix("/lfs") {
        Some(rest) => (true, rest),
        None => (false, target),
    };
    let segments: Vec<&str> = target.trim_start_matches('/').split('/').collect();
    let file = match segments.as_slice() {
        [org, name, "resolve", _revision, file] => root.join(org).join(name).join(file),
        _ => root.join("no-such-file"),
    };
    let Ok(body) = fs::read(&file) else {
        let _ = write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nX-Error-Code: EntryNotFound\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    };
    let is_lfs = file.extension().is_some_and(|e| e == "safetensors");
    if is_lfs && !lfs {
        let sha = if fault == Fault::WrongSha {
            "0".repeat(64)
        } else {
            hex(ring::digest::digest(&ring::digest::SHA256, &body).as_ref())
        };
        let _ = write!(
            stream,
            "HTTP/1.1 302 Found\r\nLocation: /lfs{target}\r\nX-Linked-Etag: \"{sha}\"\r\n\
             X-Linked-Size: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            body.len()
        );
        return;
    }
    if method == "HEAD" {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        return;
    }
    ranges
        .lock()
        .unwrap()
        .push(range.clone().unwrap_or_default());
    let start: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let status = if start > 0 {
        format!(
            "206 Partial Content\r\nContent-Range: bytes {start}-{}/{}",
            body.len() - 1,
            body.len()
        )
    } else {
        "200 OK".to_owned()
    };
    let body = &body[start..];
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let sent = if fault == Fault::Truncate {
        body.len() / 2
    } else {
        body.len()
    };
    let _ = stream.write_all(&body[..sent]);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../clip/fixtures")
        .join(name)
}

/// A hub root with `test/tiny-hf` (a Hugging Face folder) and `test/tiny-open-clip` (an
/// open_clip hub repo).
fn hub_root(dir: &Path) -> PathBuf {
    let root = dir.join("hub-root");
    let hf = root.join("test/tiny-hf");
    fs::create_dir_all(&hf).unwrap();
    fs::copy(fixture("hf/config.json"), hf.join("config.json")).unwrap();
    fs::copy(
        fixture("hf/model.safetensors"),
        hf.join("model.safetensors"),
    )
    .unwrap();
    let open_clip = root.join("test/tiny-open-clip");
    fs::create_dir_all(&open_clip).unwrap();
    let model_cfg = fs::read_to_string(fixture("open_clip.json")).unwrap();
    fs::write(
        open_clip.join("open_clip_config.json"),
        format!("{{\"model_cfg\": {model_cfg}}}"),
    )
    .unwrap();
    fs::copy(
        fixture("open_clip.safetensors"),
        open_clip.join("open_clip_model.safetensors"),
    )
    .unwrap();
    root
}

fn hub(endpoint: &str, cache: &Path) -> Hub {
    Hub {
        endpoint: endpoint.to_owned(),
        token: None,
        cache: cache.to_owned(),
        show_progress: false,
    }
}

fn name(spec: &str) -> HubName {
    HubName::parse(spec).unwrap()
}

#[test]
fn both_repo_layouts_download_verify_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let server = stand_in(&hub_root(dir.path()), Fault::None);
    let cache = dir.path().join("cache");
    let hub = hub(&server.endpoint, &cache);

    let folder = hub.fetch(&name("test/tiny-hf")).unwrap();
    assert_eq!(folder, cache.join("test--tiny-hf/main"));
    assert_eq!(
        fs::read(folder.join("model.safetensors")).unwrap(),
        fs::read(fixture("hf/model.safetensors")).unwrap()
    );
    ModelFiles::open(&folder, None)
        .unwrap()
        .load(&Device::flex())
        .unwrap();

    let folder = hub.fetch(&name("test/tiny-open-clip@v1")).unwrap();
    assert_eq!(folder, cache.join("test--tiny-open-clip/v1"));
    assert!(!folder.join("config.json").exists());
    ModelFiles::open(&folder, None)
        .unwrap()
        .load(&Device::flex())
        .unwrap();
    assert!(
        fs::read_dir(&folder).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".part"))
    );

    // A whole cached revision needs no network.
    let offline = self::hub("http://127.0.0.1:9", &cache);
    assert_eq!(
        offline.fetch(&name("test/tiny-hf")).unwrap(),
        cache.join("test--tiny-hf/main")
    );
}

#[test]
fn a_truncated_download_fails_then_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = hub_root(dir.path());
    let cache = dir.path().join("cache");
    let broken = stand_in(&root, Fault::Truncate);
    let error = hub(&broken.endpoint, &cache)
        .fetch(&name("test/tiny-hf"))
        .unwrap_err();
    assert!(format!("{error:#}").contains("broke off"), "{error:#}");
    let part = cache.join("test--tiny-hf/main/config.json.part");
    let kept = fs::metadata(&part).unwrap().len();
    assert!(kept > 0);

    let server = stand_in(&root, Fault::None);
    let folder = hub(&server.endpoint, &cache)
        .fetch(&name("test/tiny-hf"))
        .unwrap();
    assert_eq!(server.ranges.lock().unwrap()[0], format!("bytes={kept}-"));
    for file in ["config.json", "model.safetensors"] {
        assert_eq!(
            fs::read(folder.join(file)).unwrap(),
            fs::read(fixture(&format!("hf/{file}"))).unwrap(),
            "{file}"
        );
    }
    assert!(!part.exists());
}

#[test]
fn a_wrong_checksum_is_refused_and_nothing_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = stand_in(&hub_root(dir.path()), Fault::WrongSha);
    let cache = dir.path().join("cache");
    let error = hub(&server.endpoint, &cache)
        .fetch(&name("test/tiny-hf"))
        .unwrap_err();
    assert!(format!("{error:#}").contains("SHA-256"), "{error:#}");
    let folder = cache.join("test--tiny-hf/main");
    assert!(!folder.join("model.safetensors").exists());
    assert!(!folder.join("model.safetensors.part").exists());
}

#[test]
fn a_missing_repo_and_an_unreachable_hub_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = stand_in(&hub_root(dir.path()), Fault::None);
    let cache = dir.path().join("cache");
    let error = hub(&server.endpoint, &cache)
        .fetch(&name("nobody/missing"))
        .unwrap_err();
    assert!(format!("{error:#}").contains("not found"), "{error:#}");

    // A port nothing listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = hub(&format!("http://127.0.0.1:{port}"), &cache)
        .fetch(&name("test/tiny-hf"))
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("cannot reach the model hub"),
        "{error:#}"
    );
}

#[test]
fn the_cli_takes_a_hub_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = stand_in(&hub_root(dir.path()), Fault::None);
    let run = |endpoint: &str| {
        Command::new(env!("CARGO_BIN_EXE_precompute"))
            .args(["encode", "--model", "test/tiny-hf", "--text", "a dog"])
            .env("HF_ENDPOINT", endpoint)
            .env("CLIP_BRANCHES_HUB_CACHE", dir.path().join("cache"))
            .env_remove("HF_TOKEN")
            .output()
            .unwrap()
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let offline = run(&format!("http://127.0.0.1:{port}"));
    assert!(!offline.status.success());
    let stderr = String::from_utf8_lossy(&offline.stderr);
    assert!(stderr.contains("cannot reach the model hub"), "{stderr}");

    let online = run(&server.endpoint);
    assert!(
        online.status.success(),
        "{}",
        String::from_utf8_lossy(&online.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&online.stdout).unwrap();
    assert_eq!(json["text"].as_array().unwrap().len(), 1);
}
