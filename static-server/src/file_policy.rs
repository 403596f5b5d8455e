//! Per-file answers that depend only on the file name: its content type and how long
//! caches may keep it.
//!
//! Content-hashed names never change content, so they are cached for a year and marked
//! `immutable`; everything else (`index.html`, `manifest.json`, `catalog.json`,
//! unhashed app files) is `no-cache`: kept, but revalidated with ETag/Last-Modified on
//! every use, so a new dataset or app version shows up at once.

use axum::http::HeaderValue;

/// `Cache-Control` for content-hashed files.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for everything else, and for every answer that is not a file.
pub const NO_CACHE: &str = "no-cache";

/// Length of the hex content hash in dataset and app file names.
const HASH_LEN: usize = 16;

/// Whether a file name carries a content hash, in any of the project's forms:
/// - dataset files `<stem>.<16 lowercase hex>.<ext>` (`tree-017-top.3f2a9c0d1e2b4a5c.shard`);
/// - thumbnails `<16 lowercase hex>.<ext>` (`thumbs/3f2a9c0d1e2b4a5c.jpg`: ingest names a
///   thumbnail by its bytes' hash alone);
/// - the app's files (frontend/build.sh) `<stem>-<16 hex>.<ext>` and `<stem>-<16 hex>_bg.wasm`
///   (`app-1a2b3c4d5e6f7a8b.js`).
pub fn is_content_hashed(file_name: &str) -> bool {
    let Some((stem, extension)) = file_name.rsplit_once('.') else {
        return false;
    };
    if extension.is_empty() {
        return false;
    }
    let dataset_form = stem
        .rsplit_once('.')
        .is_some_and(|(name, hash)| !name.is_empty() && is_hash(hash));
    let app_stem = stem.strip_suffix("_bg").unwrap_or(stem);
    let app_form = app_stem
        .rsplit_once('-')
        .is_some_and(|(name, hash)| !name.is_empty() && is_hash(hash));
    dataset_form || is_hash(stem) || app_form
}

fn is_hash(text: &str) -> bool {
    text.len() == HASH_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `Cache-Control` for a successful answer naming `file_name`.
pub fn cache_control_for(file_name: &str) -> HeaderValue {
    HeaderValue::from_static(if is_content_hashed(file_name) {
        IMMUTABLE
    } else {
        NO_CACHE
    })
}

/// The content type of the project's file kinds, by extension; `None` leaves the choice
/// to the generic guess (`mime_guess`) of the file service.
pub fn content_type_for(file_name: &str) -> Option<HeaderValue> {
    let (_, extension) = file_name.rsplit_once('.')?;
    let content_type = match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "webp" => "image/webp",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        "shard" | "safetensors" | "bin" | "mpk" => "application/octet-stream",
        _ => return None,
    };
    Some(HeaderValue::from_static(content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_in_both_forms_are_immutable() {
        for name in [
            "tree-017-top.3f2a9c0d1e2b4a5c.shard",
            "features.0123456789abcdef.bin",
            "frontend-1a2b3c4d5e6f7a8b.js",
            "frontend-1a2b3c4d5e6f7a8b_bg.wasm",
            "style-1a2b3c4d5e6f7a8b.css",
            "3f2a9c0d1e2b4a5c.jpg",
        ] {
            assert!(is_content_hashed(name), "{name}");
            assert_eq!(cache_control_for(name), IMMUTABLE, "{name}");
        }
    }

    #[test]
    fn unhashed_and_near_miss_names_are_revalidated() {
        for name in [
            "index.html",
            "manifest.json",
            "catalog.json",
            "frontend.js",
            "tree-017-top.shard",
            // Upper-case hex, 15 and 17 digits, no stem, no extension.
            "tree.3F2A9C0D1E2B4A5C.shard",
            "tree.3f2a9c0d1e2b4a5.shard",
            "tree.3f2a9c0d1e2b4a5c0.shard",
            ".3f2a9c0d1e2b4a5c.shard",
            "-1a2b3c4d5e6f7a8b.js",
            "tree.3f2a9c0d1e2b4a5c",
            "tree.3f2a9c0d1e2b4a5c.",
            "frontend-1a2b3c4d5e6f7a8g.js",
            "3f2a9c0d1e2b4a5.jpg",
            "3F2A9C0D1E2B4A5C.jpg",
        ] {
            assert!(!is_content_hashed(name), "{name}");
            assert_eq!(cache_control_for(name), NO_CACHE, "{name}");
        }
    }

    #[test]
    fn project_file_kinds_have_fixed_types() {
        let expect = [
            ("a.shard", "application/octet-stream"),
            ("m.safetensors", "application/octet-stream"),
            ("m.mpk", "application/octet-stream"),
            ("m.bin", "application/octet-stream"),
            ("frontend_bg.wasm", "application/wasm"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("worker.mjs", "text/javascript; charset=utf-8"),
            ("manifest.json", "application/json"),
            ("x.webp", "image/webp"),
            ("x.JPG", "image/jpeg"),
            ("x.png", "image/png"),
        ];
        for (name, content_type) in expect {
            assert_eq!(content_type_for(name).unwrap(), content_type, "{name}");
        }
        assert_eq!(content_type_for("README"), None);
        assert_eq!(content_type_for("archive.tar"), None);
    }
}
