//! URL lists and downloads: a `.txt` of one URL per line (optionally a tab and a caption),
//! fetched by a bounded pool of threads with a global timeout per request, retries with
//! exponential backoff on 5xx, 429, timeouts and connection errors (never on other 4xx),
//! a minimum interval between requests to one host, and a cache under
//! `OUT/.work/downloads/<blake3 of the URL>` written temp-then-rename, so a rerun fetches
//! only what is not there yet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dataset::SkippedItem;

use crate::output::write_atomic;
use crate::source::{Candidate, ImageData, SourceCaption, SourceItems};
use crate::{Progress, skipped};

/// How downloads behave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Downloads in flight at once.
    pub concurrency: usize,
    /// Limit for one request, connection to last byte.
    pub timeout: Duration,
    /// Further attempts after a failure that may pass (5xx, 429, timeout, network).
    pub retries: u32,
    /// Wait before the first retry; doubled before each next one.
    pub backoff: Duration,
    /// Least time between the starts of two requests to one host.
    pub per_host_interval: Duration,
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
            per_host_interval: Duration::from_millis(100),
            max_bytes: crate::local_file::MAX_IMAGE_FILE_BYTES,
        }
    }
}

/// One URL to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlEntry {
    /// The URL.
    pub url: String,
    /// The caption: the list's (paired), or else the URL's file name (optional).
    pub caption: SourceCaption,
    /// How reports name it (`list.txt:3`).
    pub label: String,
}

/// Parses a URL list named `name`: blank lines and `#` comments are ignored, a line that
/// is not an http(s) URL is skipped as `bad_url`.
pub fn parse_list(text: &str, name: &str) -> (Vec<UrlEntry>, Vec<SkippedItem>) {
    let mut entries = Vec::new();
    let mut skips = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (url, caption) = match line.split_once('\t') {
            Some((url, caption)) => (url.trim(), caption.to_owned()),
            None => (line.trim(), String::new()),
        };
        let label = format!("{name}:{}", index + 1);
        if host_of(url).is_none() {
            skips.push(skipped(
                label,
                "bad_url",
                format!("'{url}' is not an http(s) URL"),
            ));
            continue;
        }
        let caption = if caption.trim().is_empty() {
            SourceCaption::Optional(caption_from_url(url))
        } else {
            SourceCaption::Paired(caption)
        };
        entries.push(UrlEntry {
            url: url.to_owned(),
            caption,
            label,
        });
    }
    (entries, skips)
}

/// The caption a URL gives when the list has none: its last path segment's stem.
fn caption_from_url(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next().unwrap_or("");
    let stem = last.rsplit_once('.').map_or(last, |(stem, _)| stem);
    crate::caption::caption_from_file_name(stem)
}

/// `host[:port]` of an http or https URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains(char::is_whitespace)).then_some(host)
}

/// The cache file of `url` under `cache_dir`.
pub fn cache_path(cache_dir: &Path, url: &str) -> PathBuf {
    cache_dir.join(blake3::hash(url.as_bytes()).to_hex().as_str())
}

/// Why a download failed for good.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Failure {
    reason: &'static str,
    detail: String,
}

/// Fetches every entry not yet in `cache_dir` and returns the candidates (cached files)
/// in list order; failures are skipped items.
pub fn download(
    entries: &[UrlEntry],
    cache_dir: &Path,
    options: &DownloadOptions,
    progress: &dyn Progress,
) -> SourceItems {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(options.timeout))
        .http_status_as_error(false)
        .user_agent(concat!(
            "clip-branches-precompute/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .into();
    let limiter = HostLimiter::new(options.per_host_interval);
    let results: Vec<Mutex<Option<Result<PathBuf, Failure>>>> =
        entries.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    progress.begin("downloading", entries.len() as u64);
    std::thread::scope(|scope| {
        for _ in 0..options.concurrency.clamp(1, entries.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(entry) = entries.get(index) else {
                        break;
                    };
                    let path = cache_path(cache_dir, &entry.url);
                    let outcome = if path.is_file() {
                        Ok(path)
                    } else {
                        fetch(&agent, &limiter, &entry.url, options).and_then(|bytes| {
                            write_atomic(&path, &bytes).map_err(|error| Failure {
                                reason: "download_error",
                                detail: error.to_string(),
                            })?;
                            Ok(path)
                        })
                    };
                    *results[index].lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
                    progress.advance(1);
                }
            });
        }
    });
    progress.end();
    let mut items = SourceItems::default();
    for (entry, result) in entries.iter().zip(results) {
        match result.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(path)) => items.candidates.push(Candidate {
                source: entry.url.clone(),
                label: format!("{} {}", entry.label, entry.url),
                caption: entry.caption.clone(),
                image: ImageData::File(path),
            }),
            Some(Err(failure)) => items.skipped.push(skipped(
                format!("{} {}", entry.label, entry.url),
                failure.reason,
                failure.detail,
            )),
            None => unreachable!("every index below the list's length is fetched once"),
        }
    }
    items
}

/// One URL with retries; the body on success.
fn fetch(
    agent: &ureq::Agent,
    limiter: &HostLimiter,
    url: &str,
    options: &DownloadOptions,
) -> Result<Vec<u8>, Failure> {
    let host = host_of(url).unwrap_or_default();
    let mut attempt = 0u32;
    loop {
        limiter.wait_turn(host);
        let (failure, may_pass) = match attempt_once(agent, url, options.max_bytes) {
            Ok(bytes) => return Ok(bytes),
            Err(outcome) => outcome,
        };
        attempt += 1;
        if !may_pass || attempt > options.retries {
            return Err(Failure {
                reason: failure.reason,
                detail: format!(
                    "{} ({attempt} attempt{})",
                    failure.detail,
                    if attempt == 1 { "" } else { "s" }
                ),
            });
        }
        std::thread::sleep(options.backoff.saturating_mul(1 << (attempt - 1).min(16)));
    }
}

/// One request: the body, or the failure and whether a retry may pass.
fn attempt_once(
    agent: &ureq::Agent,
    url: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, (Failure, bool)> {
    let failure = |reason, detail: String, may_pass| (Failure { reason, detail }, may_pass);
    let classify = |error: ureq::Error| match error {
        ureq::Error::Timeout(_) => failure("download_timeout", error.to_string(), true),
        ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => {
            failure("download_error", error.to_string(), true)
        }
        ureq::Error::BodyExceedsLimit(_) => failure(
            "download_too_large",
            format!("body over {max_bytes} bytes"),
            false,
        ),
        _ => failure("download_error", error.to_string(), false),
    };
    let mut response = agent.get(url).call().map_err(classify)?;
    let status = response.status().as_u16();
    if status != 200 {
        let may_pass = status >= 500 || status == 429;
        return Err(failure(
            "download_http_status",
            format!("HTTP {status}"),
            may_pass,
        ));
    }
    response
        .body_mut()
        .with_config()
        .limit(max_bytes)
        .read_to_vec()
        .map_err(classify)
}

/// Spaces the starts of requests to each host by at least `interval`: each request takes
/// the next free slot of its host and sleeps until then, outside the lock.
struct HostLimiter {
    interval: Duration,
    next_slot: Mutex<HashMap<String, Instant>>,
}

impl HostLimiter {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            next_slot: Mutex::new(HashMap::new()),
        }
    }

    fn wait_turn(&self, host: &str) {
        let now = Instant::now();
        let slot = {
            let mut slots = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots.get(host).copied().unwrap_or(now).max(now);
            slots.insert(host.to_owned(), slot + self.interval);
            slot
        };
        std::thread::sleep(slot.saturating_duration_since(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        let text = "# comment\nhttps://a.example/x/red_car.jpg?s=1\n\nftp://b/c.jpg\nhttp://h:8080/p.png\tA caption\r\nhttps://a.example/IMG_1234.jpg\n";
        let (entries, skips) = parse_list(text, "list.txt");
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0].caption,
            SourceCaption::Optional("red car".into())
        );
        assert_eq!(entries[0].label, "list.txt:2");
        assert_eq!(entries[1].url, "http://h:8080/p.png");
        assert_eq!(
            entries[1].caption,
            SourceCaption::Paired("A caption".into())
        );
        // A camera's file name gives no caption, and keeps the item.
        assert_eq!(entries[2].caption, SourceCaption::Optional(String::new()));
        assert_eq!(skips.len(), 1);
        assert_eq!(
            (skips[0].source.as_str(), skips[0].reason.as_str()),
            ("list.txt:4", "bad_url")
        );
    }

    #[test]
    fn requests_to_one_host_are_spaced() {
        // The k-th turn starts no sooner than k intervals after the first was asked for:
        // a lower bound, so a slow machine cannot make this fail.
        let limiter = HostLimiter::new(Duration::from_millis(30));
        let asked = Instant::now();
        for k in 0..4u32 {
            limiter.wait_turn("a.example");
            assert!(asked.elapsed() >= Duration::from_millis(30) * k, "turn {k}");
        }
        let slots = limiter.next_slot.lock().unwrap();
        assert_eq!(slots.len(), 1);
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("https://a.b:81/x"), Some("a.b:81"));
        assert_eq!(host_of("http://a.b?q"), Some("a.b"));
        assert_eq!(host_of("http:///x"), None);
        assert_eq!(host_of("a.b/x"), None);
    }
}
