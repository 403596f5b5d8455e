//! Downloading a CLIP model from a Hugging Face style hub, for `--model ORG/NAME[@REVISION]`.
//!
//! Files come from `{endpoint}/{repo}/resolve/{revision}/{file}` (the endpoint is
//! `$HF_ENDPOINT`, else `https://huggingface.co`; `$HF_TOKEN`, when set, is sent as a bearer
//! token for gated or private repos). A repo is either a Hugging Face `CLIPModel`
//! (`config.json` + `model.safetensors`) or an open_clip hub repo (`open_clip_config.json` +
//! `open_clip_model.safetensors`); the first pair the hub has is fetched.
//!
//! The cache is our own, not huggingface_hub's (no symlinked blobs to manage):
//! `{cache}/{org}--{name}/{revision}/{file}`, where `{cache}` is `$CLIP_BRANCHES_HUB_CACHE`,
//! else `$XDG_CACHE_HOME/clip-branches/hub`, else `~/.cache/clip-branches/hub`. A file is
//! written as `{file}.part` and renamed once its size and SHA-256 (the hub's
//! `X-Linked-Etag` of a Git LFS file) match, so a file in the cache is always whole; an
//! interrupted download resumes from its `.part` with an HTTP range request. A revision
//! whose files are all cached is used without the network (delete its folder to refresh
//! a moving revision such as `main`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use ring::digest::{Context as Sha256, SHA256};

/// The file pairs a CLIP repo may hold, `(config, weights)`, in the order they are tried.
const LAYOUTS: [(&str, &str); 2] = [
    ("config.json", "model.safetensors"),
    ("open_clip_config.json", "open_clip_model.safetensors"),
];

/// A hub name as `--model` takes it: `ORG/NAME`, optionally `@REVISION` (default `main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubName {
    /// `ORG/NAME`.
    pub repo: String,
    /// Branch, tag or commit.
    pub revision: String,
}

impl HubName {
    /// The hub name `spec` stands for, if it has that shape (two plain path parts).
    pub fn parse(spec: &str) -> Option<Self> {
        let (repo, revision) = spec.split_once('@').unwrap_or((spec, "main"));
        let (org, name) = repo.split_once('/')?;
        let plain = |part: &str| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        (plain(org) && plain(name) && plain(revision)).then(|| Self {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
        })
    }
}

/// Where models are downloaded from and cached.
#[derive(Debug, Clone)]
pub struct Hub {
    /// Base URL, without a trailing `/`.
    pub endpoint: String,
    /// Bearer token for gated or private repos.
    pub token: Option<String>,
    /// Root of the download cache.
    pub cache: PathBuf,
    /// Draw a progress bar on stderr while downloading.
    pub show_progress: bool,
}

impl Hub {
    /// The hub and cache the environment names (see the module docs).
    pub fn from_env() -> Result<Self> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let cache = match (
            var("CLIP_BRANCHES_HUB_CACHE"),
            var("XDG_CACHE_HOME"),
            var("HOME"),
        ) {
            (Some(cache), _, _) => PathBuf::from(cache),
            (None, Some(xdg), _) => Path::new(&xdg).join("clip-branches/hub"),
            (None, None, Some(home)) => Path::new(&home).join(".cache/clip-branches/hub"),
            (None, None, None) => {
                bail!("no cache folder for hub downloads: set CLIP_BRANCHES_HUB_CACHE or HOME")
            }
        };
        Ok(Self {
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_owned(),
            token: var("HF_TOKEN"),
            cache,
            show_progress: true,
        })
    }

    /// The cache folder of one revision of a repo.
    pub fn folder(&self, name: &HubName) -> PathBuf {
        self.cache
            .join(name.repo.replace('/', "--"))
            .join(&name.revision)
    }

    /// A local folder holding the repo's config and weights: the cached one when whole,
    /// else downloaded into the cache.
    pub fn fetch(&self, name: &HubName) -> Result<PathBuf> {
        let folder = self.folder(name);
        let cached = LAYOUTS.iter().any(|(config, weights)| {
            folder.join(config).is_file() && folder.join(weights).is_file()
        });
        if cached {
            return Ok(folder);
        }
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create the hub cache folder {}", folder.display()))?;
        let agent = self.agent();
        for (config, weights) in LAYOUTS {
            if self.download(&agent, name, config, &folder)? == Fetched::NotFound {
                continue;
            }
            if self.download(&agent, name, weights, &folder)? == Fetched::NotFound {
                bail!(
                    "hub repo '{}' (revision '{}') has {config} but not {weights}",
                    name.repo,
                    name.revision
                );
            }
            return Ok(folder);
        }
        bail!(
            "hub repo '{}' (revision '{}') not found at {}, or it holds neither config.json + \
             model.safetensors nor open_clip_config.json + open_clip_model.safetensors \
             (a private or gated repo needs HF_TOKEN)",
            name.repo,
            name.revision,
            self.endpoint
        )
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .user_agent(concat!(
                "clip-branches-precompute/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .into()
    }

    fn url(&self, name: &HubName, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{file}",
            self.endpoint, name.repo, name.revision
        )
    }

    fn request<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    /// One file into `folder` (skipped when already there).
    fn download(
        &self,
        agent: &ureq::Agent,
        name: &HubName,
        file: &str,
        folder: &Path,
    ) -> Result<Fetched> {
        let target = folder.join(file);
        if target.is_file() {
            return Ok(Fetched::Done);
        }
        let url = self.url(name, file);
        let offline = |error: ureq::Error| {
            anyhow::anyhow!(
                "cannot reach the model hub at {} for {url}: {error} (offline? set HF_ENDPOINT \
                 for a mirror, or pass a local model folder)",
                self.endpoint
            )
        };
        // The hub answers a Git LFS file with a redirect to its storage; the redirect (not
        // the file it leads to) carries the file's size and SHA-256.
        let head = self
            .request(agent.head(&url))
            .config()
            .max_redirects(0)
            .build()
            .call()
            .map_err(offline)?;
        let expected = match head.status().as_u16() {
            200 => Expected::from_headers(head.headers(), true),
            // A redirect's own length is its body's, not the file's.
            300..=399 => Expected::from_headers(head.headers(), false),
            404 => return Ok(Fetched::NotFound),
            401 | 403 => bail!(
                "{url}: HTTP {} (a gated or private repo: set HF_TOKEN to a token with access)",
                head.status().as_u16()
            ),
            status => bail!("{url}: HTTP {status}"),
        };

        let part = folder.join(format!("{file}.part"));
        let resume_from = std::fs::metadata(&part).map_or(0, |m| m.len());
        let mut request = self.request(agent.get(&url));
        if resume_from > 0 {
            request = request.header("Range", format!("bytes={resume_from}-"));
        }
        let mut response = request.call().map_err(offline)?;
        let status = response.status().as_u16();
        if status == 416 {
            // The range starts at or past the end: the part is not trustworthy, start over.
            std::fs::remove_file(&part).ok();
            return self.download(agent, name, file, folder);
        }
        let (out, written) = match status {
            206 => (OpenOptions::new().append(true).open(&part), resume_from),
            200 => (File::create(&part), 0),
            404 => return Ok(Fetched::NotFound),
            status => bail!("{url}: HTTP {status}"),
        };
        let mut out = out.with_context(|| format!("cannot write {}", part.display()))?;
        let total = expected
            .size
            .or_else(|| response.body().content_length().map(|n| n + written));
        let bar = self.progress_bar(file, total, written);
        let mut received = written;
        let mut reader = response.body_mut().as_reader();
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buffer).map_err(|error| {
                anyhow::anyhow!(
                    "download of {url} broke off after {received} bytes: {error} (run again to \
                     resume from {})",
                    part.display()
                )
            })?;
            if n == 0 {
                break;
            }
            out.write_all(&buffer[..n])
                .with_context(|| format!("cannot write {}", part.display()))?;
            received += n as u64;
            bar.set_position(received);
        }
        out.sync_all()
            .with_context(|| format!("cannot write {}", part.display()))?;
        bar.finish_and_clear();
        if let Err(error) = expected.check(&part) {
            std::fs::remove_file(&part).ok();
            return Err(error.context(format!("{url}: the download is corrupt (removed)")));
        }
        std::fs::rename(&part, &target)
            .with_context(|| format!("cannot move {} into place", part.display()))?;
        Ok(Fetched::Done)
    }

    fn progress_bar(&self, file: &str, total: Option<u64>, position: u64) -> ProgressBar {
        if !self.show_progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total.unwrap_or(0)).with_position(position);
        let template = if total.is_some() {
            "{msg} {bytes}/{total_bytes} ({binary_bytes_per_sec}, {eta} left)"
        } else {
            "{msg} {bytes} ({binary_bytes_per_sec})"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message(format!("downloading {file}"));
        bar
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Fetched {
    Done,
    NotFound,
}

/// What the hub says a file should be.
#[derive(Debug, Default)]
struct Expected {
    size: Option<u64>,
    sha256: Option<String>,
}

impl Expected {
    /// `X-Linked-Size` / `X-Linked-Etag` (Git LFS files), else `Content-Length` (`is_file`:
    /// the response is the file's own, not a redirect's); an `ETag` counts as a SHA-256 only
    /// when it has that shape (a plain Git file's is a SHA-1).
    fn from_headers(headers: &ureq::http::HeaderMap, is_file: bool) -> Self {
        let text = |name: &str| {
            headers.get(name).and_then(|v| v.to_str().ok()).map(|v| {
                v.trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .to_owned()
            })
        };
        let sha256 = text("x-linked-etag")
            .or_else(|| text("etag"))
            .filter(|tag| tag.len() == 64 && tag.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|tag| tag.to_ascii_lowercase());
        let size = text("x-linked-size")
            .or_else(|| text("content-length").filter(|_| is_file))
            .and_then(|v| v.parse().ok());
        Self { size, sha256 }
    }

    fn check(&self, path: &Path) -> Result<()> {
        let size = std::fs::metadata(path)?.len();
        if let Some(expected) = self.size
            && size != expected
        {
            bail!("{size} bytes, the hub announced {expected}");
        }
        if let Some(expected) = &self.sha256 {
            let found: String = sha256_of(path)?
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if &found != expected {
                bail!("SHA-256 {found}, the hub announced {expected}");
            }
        }
        Ok(())
    }
}

/// The SHA-256 of a file, read in blocks.
fn sha256_of(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new(&SHA256);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.finish().as_ref().to_vec());
        }
        hasher.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_names_parse() {
        assert_eq!(
            HubName::parse("openai/clip-vit-base-patch32"),
            Some(HubName {
                repo: "openai/clip-vit-base-patch32".into(),
                revision: "main".into()
            })
        );
        assert_eq!(
            HubName::parse("laion/CLIP-ViT-B-32@v1.0").map(|n| n.revision),
            Some("v1.0".into())
        );
        for not_a_name in [
            "model", "a/b/c", "./x", "../x/y", "a/", "/a", "a/b@", "a b/c",
        ] {
            assert_eq!(HubName::parse(not_a_name), None, "{not_a_name}");
        }
    }
}
