//! static-server's request handling: the input is parsed as hyper parses a request
//! (`httparse`, the same limits on header count) and sent through the real app over a
//! small site; whatever the request, the answer is never a server error.

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Version};
use tower::ServiceExt;

/// The site: an app folder and a data folder with a dataset's kinds of files, a
/// sub-folder, a link inside, a link out and a link loop. One folder under the system's
/// temporary folder, the same for every run (its content never changes), so runs leave
/// nothing more behind.
struct Site {
    app: Router,
    runtime: tokio::runtime::Runtime,
}

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let root = std::env::temp_dir().join("clip-branches-fuzz-site");
        let dist = root.join("dist");
        let data = root.join("data");
        let shapes = data.join("shapes");
        for dir in [&dist, &shapes] {
            std::fs::create_dir_all(dir).expect("site folders");
        }
        let files: [(&std::path::Path, &str, &[u8]); 5] = [
            (&dist, "index.html", b"<!doctype html><title>app</title>"),
            (&dist, "app.0123456789abcdef.wasm", b"\0asm\x01\0\0\0"),
            (&data, "catalog.json", br#"{"datasets":[]}"#),
            (&shapes, "dataset.json", br#"{"format_version":1}"#),
            (&shapes, "features-0000.0123456789abcdef.shard", &[7; 300]),
        ];
        for (dir, name, bytes) in files {
            std::fs::write(dir.join(name), bytes).expect("site files");
        }
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink("dataset.json", shapes.join("inside.json"));
            let _ = std::os::unix::fs::symlink("/etc/hostname", shapes.join("outside.json"));
            let _ = std::os::unix::fs::symlink("loop", shapes.join("loop"));
        }
        let config = static_server::Config::new(&dist, &data).expect("the site's folders");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        Site {
            app: static_server::app(&config),
            runtime,
        }
    })
}

/// Raw bytes as an HTTP/1 request head (hyper's parser), through the app.
pub fn http_request(data: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = parsed.parse(data) else {
        return;
    };
    let (Some(method), Some(path), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .version(if version == 0 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        });
    for header in parsed.headers.iter() {
        request = request.header(header.name, header.value);
    }
    let Ok(request) = request.body(Body::from(data[head_len..].to_vec())) else {
        return;
    };
    let site = site();
    let status = site.runtime.block_on(async {
        let response = site
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("the app's errors are responses");
        let status = response.status();
        let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await;
        status
    });
    assert!(
        !status.is_server_error(),
        "{status} for {:?}",
        String::from_utf8_lossy(&data[..head_len])
    );
}
