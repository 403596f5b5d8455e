//! Fetching dataset files in the page and in workers: entry files (catalog, manifests)
//! revalidated through HTTP, content-hashed files through the Cache API first, so a
//! second visit reads them without the network; and a clock for stage times.
//!
//! Every content-hashed file (shards, item chunks, text encoder files) goes through one
//! fetch-check-refetch path, [`FileCache::check_fetched`]: a damaged cached copy is dropped
//! and fetched again, and only checked network bytes are stored.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, CacheStorage, Response, Window, WorkerGlobalScope};

use crate::protocol::Failure;

/// Name of the Cache API cache that holds content-hashed dataset files; the version
/// changes when the way files are stored changes.
pub const CACHE_NAME: &str = "clip-branches-files-v1";

/// Why a file could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The request failed before an answer (offline, refused, blocked by CORS).
    #[error("{url}: no answer ({reason})")]
    NoAnswer {
        /// The URL.
        url: String,
        /// The browser's message.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The answer's body could not be read or decoded.
    #[error("{url}: unreadable body ({reason})")]
    Body {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// A JavaScript error's message (or the value itself, said as well as it can be).
pub fn describe(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

/// The page or worker global scope.
enum Scope {
    Window(Window),
    Worker(WorkerGlobalScope),
}

fn scope() -> Scope {
    let global = js_sys::global();
    match global.dyn_into::<Window>() {
        Ok(window) => Scope::Window(window),
        Err(global) => Scope::Worker(global.unchecked_into()),
    }
}

fn fetch_promise(url: &str) -> Promise {
    match scope() {
        Scope::Window(w) => w.fetch_with_str(url),
        Scope::Worker(w) => w.fetch_with_str(url),
    }
}

/// `fetch(url, { headers: { Range: "bytes=start-(end - 1)" } })`.
fn fetch_range_promise(url: &str, start: u64, end: u64) -> Result<Promise, JsValue> {
    let headers = js_sys::Object::new();
    let range = format!("bytes={start}-{}", end.saturating_sub(1));
    Reflect::set(&headers, &"Range".into(), &range.into())?;
    let init = web_sys::RequestInit::new();
    init.set_headers(&headers);
    Ok(match scope() {
        Scope::Window(w) => w.fetch_with_str_and_init(url, &init),
        Scope::Worker(w) => w.fetch_with_str_and_init(url, &init),
    })
}

/// The Cache API, if the page has it: an insecure context (a host page on plain HTTP
/// other than localhost, embedding the app) has none, and `caches` is `undefined` there.
fn caches() -> Option<CacheStorage> {
    let storage = match scope() {
        Scope::Window(w) => w.caches().ok(),
        Scope::Worker(w) => w.caches().ok(),
    };
    storage.filter(|s| !s.is_undefined())
}

/// Milliseconds since the page or worker started (`performance.now()`).
pub fn now_ms() -> f64 {
    let performance = match scope() {
        Scope::Window(w) => w.performance(),
        Scope::Worker(w) => w.performance(),
    };
    performance.map_or(0.0, |p| p.now())
}

/// `navigator.locks` (Web Locks), which only secure contexts have.
fn lock_manager() -> Result<JsValue, String> {
    let navigator =
        Reflect::get(&js_sys::global(), &"navigator".into()).map_err(|e| describe(&e))?;
    let locks = Reflect::get(&navigator, &"locks".into()).map_err(|e| describe(&e))?;
    if locks.is_undefined() {
        return Err("this page has no Web Locks (not a secure context)".to_owned());
    }
    Ok(locks)
}

/// `navigator.locks.request(name, callback)`; the promise it returns settles when the
/// callback's does, which nothing here waits for.
fn request_lock(name: &str, callback: &JsValue) -> Result<(), String> {
    let locks = lock_manager()?;
    let request: Function = Reflect::get(&locks, &"request".into())
        .map_err(|e| describe(&e))?
        .dyn_into()
        .map_err(|e| describe(&e))?;
    request
        .call2(&locks, &name.into(), callback)
        .map_err(|e| describe(&e))?;
    Ok(())
}

/// Takes Web Lock `name` and holds it until this worker ends (a worker's locks go with
/// it, however it ends); returns once it is held.
///
/// # Errors
/// No Web Locks here, or the lock was refused.
pub async fn hold_lock(name: &str) -> Result<(), String> {
    let mut grant = None;
    let granted = Promise::new(&mut |resolve, _| grant = Some(resolve));
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        if let Some(grant) = grant {
            let _ = grant.call0(&JsValue::UNDEFINED);
        }
        // Never settles: the lock is the worker's for its whole life.
        Promise::new(&mut |_, _| {}).into()
    });
    request_lock(name, &callback)?;
    JsFuture::from(granted).await.map_err(|e| describe(&e))?;
    Ok(())
}

/// A random number of 53 bits (what an `f64` holds exactly), for names that must be
/// unique to a page or a worker, such as their Web Locks.
pub fn random_id() -> u64 {
    (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64
}

/// Calls `on_released` once Web Lock `name`, held by a worker ([`hold_lock`]), is free:
/// that worker has ended. The lock is let go again at once.
///
/// # Errors
/// No Web Locks here.
pub fn when_released(name: &str, on_released: impl FnOnce() + 'static) -> Result<(), String> {
    let callback = Closure::once_into_js(move |_lock: JsValue| on_released());
    request_lock(name, &callback)
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

/// After a panic a worker's state is unknown: it logs the panic and closes, which lets go
/// of its lifeline ([`hold_lock`]), and the page starts a fresh one.
pub fn close_on_panic(worker: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        console_error(&format!("{worker}: {info}"));
        close_worker();
    }));
}

/// Closes this worker (in a worker; nothing in a page).
pub fn close_worker() {
    if let Scope::Worker(worker) = scope()
        && let Ok(close) = Reflect::get(&worker, &"close".into())
        && let Ok(close) = close.dyn_into::<Function>()
    {
        let _ = close.call0(&worker);
    }
}

async fn response_bytes(url: &str, response: &Response) -> Result<Vec<u8>, NetError> {
    let body = |reason: JsValue| NetError::Body {
        url: url.to_owned(),
        reason: describe(&reason),
    };
    let buffer = JsFuture::from(response.array_buffer().map_err(body)?)
        .await
        .map_err(body)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// A host's answer to a range request ([`fetch_range`]).
#[derive(Debug)]
pub enum Ranged {
    /// The bytes asked for (HTTP 206).
    Part(Vec<u8>),
    /// The whole file: the host ignores ranges (HTTP 200).
    Whole(Vec<u8>),
}

/// Bytes `start..end` of `url`, by an HTTP range request through the HTTP cache; a host
/// that ignores ranges answers with the whole file.
///
/// # Errors
/// [`NetError`] naming the URL; [`NetError::Body`] for a part of another length.
pub async fn fetch_range(url: &str, start: u64, end: u64) -> Result<Ranged, NetError> {
    let no_answer = |e: JsValue| NetError::NoAnswer {
        url: url.to_owned(),
        reason: describe(&e),
    };
    let answer = JsFuture::from(fetch_range_promise(url, start, end).map_err(no_answer)?)
        .await
        .map_err(no_answer)?;
    let response: Response = answer.unchecked_into();
    match response.status() {
        206 => {
            let bytes = response_bytes(url, &response).await?;
            if bytes.len() as u64 != end - start {
                return Err(NetError::Body {
                    url: url.to_owned(),
                    reason: format!(
                        "{} bytes for the range {start}..{end} ({} asked)",
                        bytes.len(),
                        end - start
                    ),
                });
            }
            Ok(Ranged::Part(bytes))
        }
        200 => Ok(Ranged::Whole(response_bytes(url, &response).await?)),
        status => Err(NetError::Status {
            url: url.to_owned(),
            status,
        }),
    }
}

/// Fetches `url` through the HTTP cache (entry files are revalidated by the server's
/// `Cache-Control: no-cache`).
///
/// # Errors
/// [`NetError`] naming the URL.
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, NetError> {
    let mut download = Download::start(url).await?;
    while download.next_chunk().await?.is_some() {}
    Ok(download.into_bytes())
}

/// A download read as its bytes arrive (the answer's body stream), so that a large file
/// reports progress within itself.
pub struct Download {
    url: String,
    /// The body's reader; none for an answer without a body.
    reader: Option<JsValue>,
    bytes: Vec<u8>,
}

impl Download {
    /// Fetches `url` (through the HTTP cache) and checks the answer's status.
    ///
    /// # Errors
    /// [`NetError`] naming the URL.
    pub async fn start(url: &str) -> Result<Self, NetError> {
        let answer = JsFuture::from(fetch_promise(url))
            .await
            .map_err(|e| NetError::NoAnswer {
                url: url.to_owned(),
                reason: describe(&e),
            })?;
        let response: Response = answer.unchecked_into();
        if !response.ok() {
            return Err(NetError::Status {
                url: url.to_owned(),
                status: response.status(),
            });
        }
        let body = |reason: JsValue| NetError::Body {
            url: url.to_owned(),
            reason: describe(&reason),
        };
        let stream = Reflect::get(&response, &"body".into()).map_err(body)?;
        let reader = if stream.is_null() || stream.is_undefined() {
            None
        } else {
            Some(call_method(&stream, "getReader").map_err(body)?)
        };
        Ok(Self {
            url: url.to_owned(),
            reader,
            bytes: Vec::new(),
        })
    }

    /// Reads the next piece of the body; its length, or none at the end.
    ///
    /// # Errors
    /// [`NetError::Body`] when the stream breaks (a connection cut mid-file).
    pub async fn next_chunk(&mut self) -> Result<Option<usize>, NetError> {
        let Some(reader) = &self.reader else {
            return Ok(None);
        };
        let body = |reason: JsValue| NetError::Body {
            url: self.url.clone(),
            reason: describe(&reason),
        };
        let read: Promise = call_method(reader, "read").map_err(body)?.unchecked_into();
        let result = JsFuture::from(read).await.map_err(body)?;
        if Reflect::get(&result, &"done".into())
            .map_err(body)?
            .is_truthy()
        {
            self.reader = None;
            return Ok(None);
        }
        let chunk: Uint8Array = Reflect::get(&result, &"value".into())
            .map_err(body)?
            .unchecked_into();
        let start = self.bytes.len();
        self.bytes.resize(start + chunk.length() as usize, 0);
        chunk.copy_to(&mut self.bytes[start..]);
        Ok(Some(self.bytes.len() - start))
    }

    /// The bytes read.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// `target.name()`.
fn call_method(target: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    let method: Function = Reflect::get(target, &name.into())?.dyn_into()?;
    method.call0(target)
}

/// Fetches `url` as UTF-8 text.
///
/// # Errors
/// [`NetError`] naming the URL.
pub async fn fetch_text(url: &str) -> Result<String, NetError> {
    let bytes = fetch_bytes(url).await?;
    String::from_utf8(bytes).map_err(|e| NetError::Body {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

/// The Cache API store of content-hashed files; every operation is best effort (a
/// browser without the Cache API, or a full quota, just means more network).
#[derive(Clone, Debug)]
pub struct FileCache {
    cache: Option<Cache>,
    /// Bytes handed to stores that have not finished ([`Self::store_in_background`]).
    storing: Rc<Cell<usize>>,
}

/// At most this many bytes wait to be stored: past it a file is left to the HTTP cache
/// (a store is best effort), so that a round fetching hundreds of MB does not hold them
/// all twice while the store catches up. A larger file is stored when nothing waits.
const STORE_BACKLOG_BYTES: usize = 32 << 20;

impl FileCache {
    /// Opens [`CACHE_NAME`].
    pub async fn open() -> Self {
        let cache = match caches() {
            Some(storage) => JsFuture::from(storage.open(CACHE_NAME))
                .await
                .ok()
                .map(JsCast::unchecked_into),
            None => None,
        };
        Self {
            cache,
            storing: Rc::default(),
        }
    }

    /// The same fetches and checks through the HTTP cache alone: the store is neither
    /// read nor written (for files a dataset too big to keep does not keep).
    pub fn http_cache_only(&self) -> Self {
        Self {
            cache: None,
            storing: Rc::default(),
        }
    }

    /// The stored bytes of `url`, if any.
    pub async fn stored(&self, url: &str) -> Option<Vec<u8>> {
        let cache = self.cache.as_ref()?;
        let found = JsFuture::from(cache.match_with_str(url)).await.ok()?;
        let response: Response = found.dyn_into().ok()?;
        response_bytes(url, &response).await.ok()
    }

    /// Stores `bytes` as the answer for `url` without waiting for the store: each store
    /// takes the browser milliseconds of disk work, and a round's leaf files waited for
    /// one at a time (a 10M-image ensemble round: 3,209 files, 27.2 s of fetching; 23.6 s
    /// without the waits).
    fn store_in_background(&self, url: &str, bytes: &[u8]) {
        let Some(cache) = self.cache.clone() else {
            return;
        };
        // A file over the limit alone (a text tower of 64 MB) is stored when nothing waits.
        let waiting = self.storing.get();
        if waiting > 0 && waiting + bytes.len() > STORE_BACKLOG_BYTES {
            return;
        }
        let mut body = bytes.to_vec();
        let Ok(response) = Response::new_with_opt_u8_array(Some(&mut body)) else {
            return;
        };
        // The JS response holds its own copy.
        drop(body);
        let size = bytes.len();
        let storing = self.storing.clone();
        storing.set(storing.get() + size);
        let stored = cache.put_with_str(url, &response);
        wasm_bindgen_futures::spawn_local(async move {
            // Best effort: a failed store only costs a fetch next time.
            let _ = JsFuture::from(stored).await;
            storing.set(storing.get() - size);
        });
    }

    /// Forgets `url` (its stored bytes failed their check).
    async fn delete(&self, url: &str) {
        if let Some(cache) = &self.cache {
            let _ = JsFuture::from(cache.delete_with_str(url)).await;
        }
    }
}

/// Where a file's bytes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The Cache API store.
    Cache,
    /// The network (or the HTTP cache).
    Network,
}

impl FileCache {
    /// The bytes of content-hashed file `url`: from the store if there, else fetched.
    /// [`Self::check_fetched`] checks them and keeps the store right.
    ///
    /// # Errors
    /// [`NetError`] naming the URL.
    pub async fn fetch(&self, url: &str) -> Result<(Vec<u8>, Source), NetError> {
        if let Some(bytes) = self.stored(url).await {
            return Ok((bytes, Source::Cache));
        }
        Ok((fetch_bytes(url).await?, Source::Network))
    }

    /// Content-hashed file `url` ([`Self::fetch`]), checked with `check`: what `check`
    /// makes of the bytes, the bytes, and how many came from the network.
    ///
    /// # Errors
    /// As [`Self::check_fetched`].
    pub async fn fetch_checked<T, E>(
        &self,
        url: &str,
        check: impl FnMut(&[u8]) -> Result<T, E>,
    ) -> Result<Checked<T>, CheckError<E>> {
        let fetched = self.fetch(url).await.map_err(CheckError::Net)?;
        self.check_fetched(url, fetched, check).await
    }

    /// Checks `fetched`, the answer of [`Self::fetch`] for `url`, with `check`: the one
    /// fetch-check-refetch path. Bytes from the store that fail are a damaged entry: it is
    /// deleted and the file fetched again. Bytes from the network that pass are stored.
    ///
    /// # Errors
    /// [`CheckError::Net`] when the refetch fails, [`CheckError::Check`] when bytes from
    /// the network fail `check`.
    pub async fn check_fetched<T, E>(
        &self,
        url: &str,
        (bytes, source): (Vec<u8>, Source),
        mut check: impl FnMut(&[u8]) -> Result<T, E>,
    ) -> Result<Checked<T>, CheckError<E>> {
        let (value, bytes) = match (check(&bytes), source) {
            (Ok(value), Source::Cache) => {
                return Ok(Checked {
                    value,
                    bytes,
                    network_bytes: 0,
                });
            }
            (Ok(value), Source::Network) => (value, bytes),
            (Err(e), Source::Network) => return Err(CheckError::Check(e)),
            (Err(_), Source::Cache) => {
                self.delete(url).await;
                let bytes = fetch_bytes(url).await.map_err(CheckError::Net)?;
                (check(&bytes).map_err(CheckError::Check)?, bytes)
            }
        };
        self.store_in_background(url, &bytes);
        Ok(Checked {
            value,
            network_bytes: bytes.len() as u64,
            bytes,
        })
    }
}

/// A content-hashed file that passed its check ([`FileCache::fetch_checked`]).
#[derive(Debug)]
pub struct Checked<T> {
    /// What the check made of the bytes.
    pub value: T,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Bytes that came from the network (0 from the store).
    pub network_bytes: u64,
}

/// Why [`FileCache::fetch_checked`] has no checked file.
#[derive(Debug)]
pub enum CheckError<E> {
    /// The file could not be fetched.
    Net(NetError),
    /// Its bytes from the network failed the check.
    Check(E),
}

impl<E: std::fmt::Display> CheckError<E> {
    /// The failure of `what` (loading the file), with the hint for its cause.
    pub fn into_failure(self, what: String, network_hint: &str, damaged_hint: &str) -> Failure {
        match self {
            CheckError::Net(e) => Failure::new(what, e, network_hint),
            CheckError::Check(e) => Failure::new(what, e, damaged_hint),
        }
    }
}
