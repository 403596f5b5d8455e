//! The Yew UI: the dataset catalog and switcher, the query box, the result grid with
//! labels, the fine-tune controls, rules, paging, export, saved searches, the error panel
//! and the URL state. All search work happens in the search worker ([`SearchWorker`]);
//! the page fetches only the catalog, `dataset.json` and the item chunks it shows.
//!
//! Stable hooks for automated clients are `data-testid` attributes: `query`, `search`,
//! `result` (with `data-id` and `data-label`), `finetune`, `searcher`, `count`, `rules`,
//! `error`, `backend`, and further `dataset`, `progress`, `times`, `more-like-this`,
//! `all-relevant`, `all-irrelevant`, `clear`, `undo`, `prev-page`, `next-page`, `page`,
//! `random-negatives`, `negative-weight`, `export-json`, `export-csv`, `save-search`,
//! `saved-search`, `apply-search`.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use branches::{EnsemblePart, EnsemblePlan, Model, SearchRequest, Searcher};
use dataset::{Catalog, DatasetManifest, Item};
use futures::StreamExt;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    Blob, BlobPropertyBag, Element, HtmlAnchorElement, HtmlInputElement, HtmlSelectElement, Url,
    UrlSearchParams,
};
use yew::AppHandle;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_agent::reactor::{
    ReactorBridge, ReactorEvent, ReactorProvider, ReactorSpawner, UseReactorBridgeHandle,
    use_reactor_bridge,
};

use crate::codec::SerdeWasm;
use crate::index::member_shares;
use crate::items::{self, parse_chunk};
use crate::labels::Label;
use crate::net::{self, FileCache, describe};
use crate::protocol::{
    Backend, Failure, Progress, ReplyBody, StageTimes, Task, TextBody, TextReply, TextRequest,
    TextTask, WorkerReply, WorkerRequest,
};
use crate::session::{Action, FIRST_RESULTS, Query, Round, Session};
use crate::share::{self, SharedSearch, searcher_from_name, searcher_name};
use crate::source::DataSource;
use crate::text::TextWorker;
use crate::worker::SearchWorker;

/// The catalog read when the URL names none (static-server serves datasets under `/data/`).
pub const DEFAULT_CATALOG: &str = "data/catalog.json";

/// Tiles per grid row (the CSS grid has this many columns): arrow up / down move this far.
const COLUMNS: isize = 6;

/// Mounts the app on the page's body, unless the page defines the
/// `<clip-branches-search>` element: then the element's script (`clip-branches.js`)
/// mounts one app per element through [`EmbeddedSearch`].
pub fn start() {
    let embedding = web_sys::window()
        .map(|w| w.custom_elements())
        .is_some_and(|registry| !registry.get(ELEMENT_NAME).is_undefined());
    if !embedding {
        yew::Renderer::<App>::with_props(AppProps::default()).render();
    }
}

/// The custom element that embeds the app in another page (see `frontend/embed.js`).
pub const ELEMENT_NAME: &str = "clip-branches-search";

/// Where the app runs: on its own page (state in the page URL) or inside an element.
#[derive(Clone, Debug, Default, PartialEq, Properties)]
pub struct AppProps {
    /// The folder of the app's files (`worker.js`, `text-worker.js`), ending in `/`;
    /// empty: the page's folder.
    pub assets: AttrValue,
    /// Set when embedded: the element's attributes. `None`: the app's own page, which
    /// reads and writes its search in the page URL.
    pub embed: Option<Embed>,
}

/// The `<clip-branches-search>` element's attributes, resolved to absolute URLs.
#[derive(Clone, Debug, PartialEq)]
pub struct Embed {
    /// What to open (the `dataset` attribute).
    pub source: DataSource,
    /// The text query (the `query` attribute); it runs whenever it changes.
    pub query: Option<String>,
}

#[component]
fn App(props: &AppProps) -> Html {
    let worker = AttrValue::from(format!("{}worker.js", props.assets));
    let text_worker = AttrValue::from(format!("{}text-worker.js", props.assets));
    html! {
        <ReactorProvider<SearchWorker, SerdeWasm> path={worker}>
            <ReactorProvider<TextWorker, SerdeWasm> path={text_worker}>
                <Main embed={props.embed.clone()} assets={props.assets.clone()} />
            </ReactorProvider<TextWorker, SerdeWasm>>
        </ReactorProvider<SearchWorker, SerdeWasm>>
    }
}

/// One app mounted in a `<clip-branches-search>` element (made by `clip-branches.js`).
#[wasm_bindgen]
pub struct EmbeddedSearch {
    handle: AppHandle<App>,
    props: AppProps,
}

#[wasm_bindgen]
impl EmbeddedSearch {
    /// Mounts an app in `root`. `assets` is the folder of the app's files (ending in
    /// `/`), `dataset` the absolute URL of a catalog.json or a dataset folder
    /// ([`DataSource::from_url`]), `query` the first text query.
    #[wasm_bindgen(constructor)]
    pub fn new(root: Element, assets: String, dataset: &str, query: Option<String>) -> Self {
        let props = AppProps {
            assets: assets.into(),
            embed: Some(Embed {
                source: DataSource::from_url(dataset),
                query: query.filter(|q| !q.trim().is_empty()),
            }),
        };
        let handle = yew::Renderer::<App>::with_root_and_props(root, props.clone()).render();
        Self { handle, props }
    }

    /// The `query` attribute changed: runs the new text query.
    pub fn set_query(&mut self, query: Option<String>) {
        if let Some(embed) = &mut self.props.embed {
            embed.query = query.filter(|q| !q.trim().is_empty());
        }
        self.handle.update(self.props.clone());
    }

    /// The `dataset` attribute changed (absolute URL): opens it.
    pub fn set_dataset(&mut self, dataset: &str) {
        if let Some(embed) = &mut self.props.embed {
            embed.source = DataSource::from_url(dataset);
        }
        self.handle.update(self.props.clone());
    }

    /// The element left the page: unmounts the app (its workers end with it).
    pub fn destroy(self) {
        self.handle.destroy();
    }
}

/// The open dataset, as the page knows it.
#[derive(Debug, PartialEq)]
struct OpenDataset {
    name: String,
    /// The folder's absolute URL, ending in `/`.
    base: String,
    manifest: DatasetManifest,
}

/// What the request in flight is for.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    Open,
    Knn(Query),
    FineTune,
    Apply,
    /// An ensemble round's plan, asked for at this time (`net::now_ms`).
    Plan(f64),
    /// The plan's members training in the helper workers.
    Members,
}

/// An ensemble round being trained in parts: the `seq` of its plan's request, when that
/// was sent (`net::now_ms`) and the plan.
#[derive(Clone, Debug, PartialEq)]
struct EnsembleRound {
    seq: u32,
    started_ms: f64,
    plan: Rc<EnsemblePlan>,
}

/// Settings of the next round.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Settings {
    searcher: Searcher,
    random_negatives: u32,
    negative_weight: u32,
}

#[derive(Clone, Debug, PartialEq)]
struct State {
    catalog_url: String,
    catalog: Option<Rc<Catalog>>,
    dataset: Option<Rc<OpenDataset>>,
    /// The worker has the dataset open.
    ready: bool,
    /// The latest request; replies to older ones are dropped.
    seq: u32,
    pending: Option<Pending>,
    progress: Option<Progress>,
    session: Session,
    /// Item chunks of the open dataset loaded so far, by chunk number.
    items: HashMap<usize, Rc<Vec<Item>>>,
    error: Option<Failure>,
    settings: Settings,
    /// What a shared URL (or the element's `query`) asks for once the dataset is open.
    url_search: Option<SharedSearch>,
    /// Counts the searches wanted so far (`url_search`), so each runs once.
    wanted: u32,
    /// Bytes of dataset files the page and the worker fetched from the network.
    network_bytes: u64,
    /// The text encoder's state.
    text: TextState,
    /// The text worker's `Load` and latest `Encode` requests.
    text_load_seq: u32,
    text_encode_seq: u32,
    /// The last text encode time, for the next k-NN round's times.
    encode_ms: f64,
    /// The ensemble round whose members the helper workers train.
    ensemble: Option<EnsembleRound>,
}

/// Where the dataset's text encoder is.
#[derive(Clone, Debug, PartialEq)]
enum TextState {
    /// The dataset has none.
    Absent,
    /// Being fetched and warmed up.
    Loading(Option<Progress>),
    /// Ready on `backend`.
    Ready { backend: Backend, warmup_ms: f64 },
    /// Loading failed (the error panel says why).
    Failed,
}

enum Msg {
    Catalog(String, Rc<Catalog>),
    Dataset(Rc<OpenDataset>),
    Sent(u32, Pending),
    Reply(WorkerReply),
    /// Items chunk `chunk` of the dataset at `base` (the URL of the dataset it was asked for).
    Items {
        base: String,
        chunk: usize,
        items: Rc<Vec<Item>>,
    },
    NetworkBytes(u64),
    Session(Action),
    Settings(Settings),
    Error(Failure),
    DismissError,
    Want(SharedSearch),
    TextSent(u32, bool),
    Text(TextReply),
}

impl Reducible for State {
    type Action = Msg;

    fn reduce(self: Rc<Self>, msg: Msg) -> Rc<Self> {
        let mut s = (*self).clone();
        match msg {
            Msg::Catalog(url, catalog) => {
                s.catalog_url = url;
                s.catalog = Some(catalog);
            }
            Msg::Dataset(dataset) => {
                s.text = if dataset.manifest.text.is_some() {
                    TextState::Loading(None)
                } else {
                    TextState::Absent
                };
                s.dataset = Some(dataset);
                s.ready = false;
                s.items.clear();
                s.session = Session::default();
            }
            Msg::Sent(seq, pending) => {
                s.seq = seq;
                s.pending = Some(pending);
                s.progress = None;
            }
            Msg::Reply(reply) if reply.seq == s.seq => s.on_reply(reply.body),
            Msg::Reply(_) => return self,
            // A chunk asked for before a switch to another dataset is not this one's.
            Msg::Items { base, chunk, items } => match &s.dataset {
                Some(open) if open.base == base => {
                    s.items.insert(chunk, items);
                }
                _ => return self,
            },
            Msg::NetworkBytes(bytes) => s.network_bytes += bytes,
            Msg::Session(action) => s.session.apply(action),
            Msg::Settings(settings) => s.settings = settings,
            Msg::Error(failure) => s.error = Some(failure),
            Msg::DismissError => s.error = None,
            Msg::Want(shared) => {
                s.url_search = Some(shared);
                s.wanted += 1;
            }
            Msg::TextSent(seq, load) => {
                if load {
                    s.text_load_seq = seq;
                    s.text = TextState::Loading(None);
                } else {
                    s.text_encode_seq = seq;
                }
            }
            Msg::Text(reply) => s.on_text(reply),
        }
        Rc::new(s)
    }
}

impl State {
    fn new(url_search: Option<SharedSearch>) -> Self {
        let shared = url_search.clone().unwrap_or_default();
        Self {
            catalog_url: DEFAULT_CATALOG.to_owned(),
            catalog: None,
            dataset: None,
            ready: false,
            seq: 0,
            pending: None,
            progress: None,
            session: Session::default(),
            items: HashMap::new(),
            error: None,
            settings: Settings {
                searcher: shared.searcher,
                random_negatives: shared.random_negatives,
                negative_weight: shared.negative_weight,
            },
            wanted: u32::from(url_search.is_some()),
            url_search,
            network_bytes: 0,
            text: TextState::Absent,
            text_load_seq: 0,
            text_encode_seq: 0,
            encode_ms: 0.0,
            ensemble: None,
        }
    }

    fn on_text(&mut self, reply: TextReply) {
        let load = reply.seq == self.text_load_seq;
        let encode = reply.seq == self.text_encode_seq;
        match reply.body {
            TextBody::Progress(progress) if load => self.text = TextState::Loading(Some(progress)),
            TextBody::Loaded { backend, warmup_ms } if load => {
                self.text = TextState::Ready { backend, warmup_ms };
            }
            TextBody::Encoded { encode_ms, .. } if encode => self.encode_ms = encode_ms,
            TextBody::Failed(failure) if load || encode => {
                if load {
                    self.text = TextState::Failed;
                }
                self.error = Some(failure);
            }
            _ => {}
        }
    }

    /// The backend shown: the text encoder's once loaded; k-NN and training run on the CPU.
    fn backend(&self) -> Backend {
        match self.text {
            TextState::Ready { backend, .. } => backend,
            _ => Backend::Cpu,
        }
    }

    fn on_reply(&mut self, body: ReplyBody) {
        let pending = match body {
            ReplyBody::Progress(progress) => {
                self.progress = Some(progress);
                return;
            }
            _ => self.pending.take(),
        };
        self.progress = None;
        match (body, pending) {
            (ReplyBody::Opened { count, .. }, _) => {
                self.ready = true;
                self.session.apply(Action::Show {
                    query: Query::None,
                    round: Round {
                        ids: (0..count).collect(),
                        ..Round::default()
                    },
                });
            }
            (ReplyBody::Neighbours { ids, mut times }, Some(Pending::Knn(query))) => {
                self.network_bytes += times.network_bytes;
                if matches!(query, Query::Text(_)) {
                    times.encode_ms = self.encode_ms;
                }
                self.session.apply(Action::Start {
                    query,
                    round: Round {
                        ids,
                        times,
                        ..Round::default()
                    },
                });
                if let Some(shared) = self.url_search.take()
                    && !shared.labels.is_empty()
                {
                    self.session.apply(Action::SetLabels(shared.labels));
                }
            }
            (
                ReplyBody::Results {
                    ids,
                    rules,
                    sql,
                    model,
                    times,
                },
                pending,
            ) => {
                self.network_bytes += times.network_bytes;
                let round = Round {
                    ids,
                    rules,
                    sql,
                    model: Some(model),
                    times,
                };
                if pending == Some(Pending::Apply) {
                    self.session.apply(Action::Show {
                        query: Query::Saved,
                        round,
                    });
                } else {
                    self.session.apply(Action::Round(round));
                }
            }
            (ReplyBody::Plan(plan), Some(Pending::Plan(started_ms))) => {
                self.pending = Some(Pending::Members);
                self.ensemble = Some(EnsembleRound {
                    seq: self.seq,
                    started_ms,
                    plan: Rc::new(plan),
                });
            }
            (ReplyBody::Failed(failure), _) => self.error = Some(failure),
            (
                ReplyBody::Neighbours { .. }
                | ReplyBody::Progress(_)
                | ReplyBody::Plan(_)
                | ReplyBody::Part(_),
                _,
            ) => {}
        }
    }

    fn busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Every tile of the page shown has its item (caption, thumbnail) loaded.
    fn items_shown(&self) -> bool {
        self.session
            .shown()
            .iter()
            .all(|&id| self.item(id).is_some())
    }

    fn item(&self, id: u32) -> Option<&Item> {
        let (chunk, offset) = self.dataset.as_ref()?.manifest.chunk_of(u64::from(id))?;
        self.items.get(&chunk)?.get(offset)
    }

    fn shared(&self) -> SharedSearch {
        SharedSearch {
            dataset: self.dataset.as_ref().map(|d| d.name.clone()),
            query: self.session.query.clone(),
            labels: self.session.labels.clone(),
            searcher: self.settings.searcher,
            random_negatives: self.settings.random_negatives,
            negative_weight: self.settings.negative_weight,
        }
    }
}

/// Sends requests to the workers, numbering them.
#[derive(Clone)]
struct Sender {
    bridge: UseReactorBridgeHandle<SearchWorker>,
    seq: Rc<Cell<u32>>,
    state: UseReducerDispatcher<State>,
    /// The text worker's bridge, once a dataset with a text encoder is open.
    text: Rc<RefCell<Option<UseReactorBridgeHandle<TextWorker>>>>,
    /// The text being encoded: its query goes to the search worker when it arrives.
    encoding: Rc<RefCell<Option<String>>>,
}

impl Sender {
    fn send(&self, task: Task, pending: Pending) {
        let seq = self.next_seq();
        self.state.dispatch(Msg::Sent(seq, pending));
        self.bridge.send(WorkerRequest { seq, task });
    }

    fn next_seq(&self) -> u32 {
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        seq
    }

    /// Sends `task` to the text worker; false when there is none.
    fn send_text(&self, task: TextTask) -> bool {
        let Some(bridge) = self.text.borrow().clone() else {
            return false;
        };
        let seq = self.next_seq();
        if let TextTask::Encode { text } = &task {
            *self.encoding.borrow_mut() = Some(text.clone());
        }
        self.state
            .dispatch(Msg::TextSent(seq, matches!(task, TextTask::Load { .. })));
        bridge.send(TextRequest { seq, task });
        true
    }

    /// A text worker reply: an encoded query goes on to the search worker as k-NN.
    fn on_text_reply(&self, reply: TextReply) {
        let encoded = match &reply.body {
            TextBody::Encoded { query, .. } => Some(query.clone()),
            _ => None,
        };
        self.state.dispatch(Msg::Text(reply));
        // Only an encoded query consumes the pending text (a load may answer in between).
        if let Some(query) = encoded
            && let Some(text) = self.encoding.borrow_mut().take()
        {
            self.send(
                Task::Nearest {
                    query,
                    k: FIRST_RESULTS,
                },
                Pending::Knn(Query::Text(text)),
            );
        }
    }
}

#[derive(Properties, PartialEq)]
struct TextLinkProps {
    on_bridge: Callback<UseReactorBridgeHandle<TextWorker>>,
    on_reply: Callback<TextReply>,
}

/// Connects to the text worker; rendered only for a dataset with a text encoder, so the
/// text worker (and burn's wasm) loads only then.
#[component]
fn TextLink(props: &TextLinkProps) -> Html {
    let on_reply = props.on_reply.clone();
    let bridge = use_reactor_bridge::<TextWorker, _>(move |event| {
        if let ReactorEvent::Output(reply) = event {
            on_reply.emit(reply);
        }
    });
    let on_bridge = props.on_bridge.clone();
    use_effect_with((), move |_| on_bridge.emit(bridge));
    Html::default()
}

/// `relative` resolved against `base` (both URLs or paths of the page).
fn resolve(relative: &str, base: &str) -> Result<String, String> {
    let page = gloo_href();
    let base = Url::new_with_base(base, &page).map_err(|e| describe(&e))?;
    Url::new_with_base(relative, &base.href())
        .map(|u| u.href())
        .map_err(|e| describe(&e))
}

fn gloo_href() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
}

/// The page's query parameters as pairs.
fn url_params() -> Vec<(String, String)> {
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let Ok(params) = UrlSearchParams::new_with_str(&search) else {
        return Vec::new();
    };
    js_sys::try_iter(&params)
        .ok()
        .flatten()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let pair: js_sys::Array = entry.ok()?.dyn_into().ok()?;
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}

/// Replaces the page URL's query with the search's parameters (no new history entry).
fn write_url(catalog_url: &str, shared: &SharedSearch) {
    let Ok(params) = UrlSearchParams::new() else {
        return;
    };
    if catalog_url != DEFAULT_CATALOG {
        params.append("catalog", catalog_url);
    }
    for (name, value) in shared.to_params() {
        params.append(name, &value);
    }
    let query = String::from(params.to_string());
    let url = if query.is_empty() {
        "?".to_owned()
    } else {
        format!("?{query}")
    };
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        // Best effort: a page in a sandbox may refuse; the search itself is unaffected.
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url));
    }
}

/// Offers `text` as a file download.
fn download(name: &str, mime: &str, text: &str) -> Result<(), JsValue> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options)?;
    let url = Url::create_object_url_with_blob(&blob)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))?;
    let anchor: HtmlAnchorElement = document.create_element("a")?.dyn_into()?;
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    Url::revoke_object_url(&url)
}

/// Fetches and checks items chunk `chunk` of `dataset` (Cache API first); returns its
/// items and the bytes that came from the network.
async fn load_chunk(dataset: &OpenDataset, chunk: usize) -> Result<(Rc<Vec<Item>>, u64), Failure> {
    let file = dataset.manifest.items.get(chunk).ok_or_else(|| {
        Failure::new("loading captions", "no such items chunk", "reload the page")
    })?;
    let url = format!("{}{}", dataset.base, file.name);
    let checked = FileCache::open()
        .await
        .fetch_checked(&url, |bytes| parse_chunk(&dataset.manifest, chunk, bytes))
        .await
        .map_err(|e| {
            e.into_failure(
                format!("loading {}", file.name),
                "check the connection, then page again",
                "the dataset on the server is damaged: rebuild it",
            )
        })?;
    Ok((Rc::new(checked.value.items), checked.network_bytes))
}

/// Loads the catalog, then the dataset the URL names (or the first).
fn open_catalog(catalog_url: String, wanted: Option<String>, sender: Sender) {
    spawn_local(async move {
        let dispatch = sender.state.clone();
        let loaded = async {
            let text = net::fetch_text(&catalog_url).await.map_err(|e| {
                Failure::new(
                    "loading the catalog",
                    e,
                    "pass ?catalog=URL of a catalog.json",
                )
            })?;
            Catalog::from_json(&text)
                .map_err(|e| Failure::new("reading the catalog", e, "fix or rebuild catalog.json"))
        }
        .await;
        match loaded {
            Ok(catalog) => {
                let catalog = Rc::new(catalog);
                dispatch.dispatch(Msg::Catalog(catalog_url.clone(), catalog.clone()));
                let entry = wanted
                    .and_then(|name| catalog.datasets.iter().find(|d| d.name == name))
                    .or(catalog.datasets.first());
                match entry {
                    Some(entry) => {
                        open_dataset(catalog_url, entry.name.clone(), entry.path.clone(), sender)
                    }
                    None => dispatch.dispatch(Msg::Error(Failure::new(
                        "opening a dataset",
                        "the catalog lists no dataset",
                        "build a dataset with precompute and list it in catalog.json",
                    ))),
                }
            }
            Err(f) => dispatch.dispatch(Msg::Error(f)),
        }
    });
}

/// Opens the catalog's dataset at `path` (relative to the catalog).
fn open_dataset(catalog_url: String, name: String, path: String, sender: Sender) {
    match resolve(&format!("{path}/"), &catalog_url) {
        Ok(base) => open_folder(base, Some(name), sender),
        Err(e) => sender.state.dispatch(Msg::Error(Failure::new(
            format!("opening {name}"),
            e,
            "fix the dataset's path in catalog.json",
        ))),
    }
}

/// Fetches `dataset.json` of the dataset folder at `base` (absolute, ending in `/`), then
/// asks the worker to open its index. `name` is the catalog's name for it; without a
/// catalog, the name in `dataset.json`.
fn open_folder(base: String, name: Option<String>, sender: Sender) {
    spawn_local(async move {
        let dispatch = sender.state.clone();
        let opened = async {
            let what = format!("opening {}", name.as_deref().unwrap_or(&base));
            let url = format!("{base}{}", dataset::DATASET_FILE);
            let text = net::fetch_text(&url).await.map_err(|e| {
                Failure::new(
                    what.clone(),
                    e,
                    "check that the dataset folder is served (and allows this page's origin)",
                )
            })?;
            let manifest = DatasetManifest::from_json(&text).map_err(|e| {
                Failure::new(
                    what,
                    e,
                    "rebuild the dataset with this version of precompute",
                )
            })?;
            Ok::<_, Failure>(OpenDataset {
                name: name.unwrap_or_else(|| manifest.name.clone()),
                base,
                manifest,
            })
        }
        .await;
        match opened {
            Ok(dataset) => {
                let base = dataset.base.clone();
                dispatch.dispatch(Msg::Dataset(Rc::new(dataset)));
                sender.send(Task::Open { base }, Pending::Open);
            }
            Err(f) => dispatch.dispatch(Msg::Error(f)),
        }
    });
}

/// Starts a query: k-NN for "more like this"; text needs the dataset's text encoder.
fn run_query(state: &State, query: Query, sender: &Sender) {
    let Some(dataset) = &state.dataset else {
        return;
    };
    match query {
        Query::Like(id) => sender.send(
            Task::MoreLikeThis {
                id,
                k: FIRST_RESULTS,
            },
            Pending::Knn(Query::Like(id)),
        ),
        Query::Text(text) => {
            let failed = match &state.text {
                TextState::Absent => Some(format!(
                    "dataset {} has no text encoder, so {text:?} cannot be searched",
                    dataset.name
                )),
                TextState::Failed => Some("the text encoder failed to load".to_owned()),
                // While loading, the request waits in the text worker's queue.
                TextState::Loading(_) | TextState::Ready { .. } => None,
            };
            match failed {
                Some(message) => sender.state.dispatch(Msg::Error(Failure::new(
                    "text search",
                    message,
                    "use \"more like this\" (≈) on an image, or apply a saved search",
                ))),
                None => {
                    if !sender.send_text(TextTask::Encode { text }) {
                        sender.state.dispatch(Msg::Error(Failure::new(
                            "text search",
                            "the text worker is not connected yet",
                            "try again in a moment",
                        )));
                    }
                }
            }
        }
        Query::None | Query::Saved => {}
    }
}

/// Workers that train an ensemble's members: the page URL's `workers`, else the
/// browser's cores (`navigator.hardwareConcurrency`) but one, left to the page and the
/// search worker: on 2 cores the split measured slower than one worker (the members of a
/// 100k round train in ~20 ms; the plan's and the parts' trips cost more), so there it
/// stays in one worker.
fn ensemble_workers(page_workers: &Option<u32>) -> u32 {
    page_workers.unwrap_or_else(|| {
        web_sys::window().map_or(1, |w| {
            (w.navigator().hardware_concurrency() as u32).saturating_sub(1)
        })
    })
}

/// Trains `round`'s members in parts, share `k` in helper `pool[k]`, all at once.
async fn train_parts(
    pool: &mut [ReactorBridge<SearchWorker>],
    round: &EnsembleRound,
    shares: Vec<std::ops::Range<u32>>,
) -> Result<Vec<EnsemblePart>, Failure> {
    let trainings = pool
        .iter_mut()
        .zip(shares)
        .map(|(helper, members)| async move {
            helper.send_input(WorkerRequest {
                seq: round.seq,
                task: Task::TrainMembers {
                    plan: (*round.plan).clone(),
                    members,
                },
            });
            while let Some(reply) = helper.next().await {
                match reply.body {
                    ReplyBody::Part(part) if reply.seq == round.seq => return Ok(part),
                    ReplyBody::Failed(failure) if reply.seq == round.seq => return Err(failure),
                    _ => {}
                }
            }
            Err(Failure::new(
                "training ensemble members",
                "a helper worker stopped",
                "reload the page",
            ))
        });
    futures::future::join_all(trainings)
        .await
        .into_iter()
        .collect()
}

#[derive(Properties, PartialEq)]
struct TileProps {
    id: u32,
    label: Label,
    focused: bool,
    thumb: Option<AttrValue>,
    caption: Option<AttrValue>,
    on_click: Callback<(u32, bool)>,
    on_like: Callback<u32>,
}

#[component]
fn Tile(props: &TileProps) -> Html {
    let id = props.id;
    let onclick = {
        let on_click = props.on_click.clone();
        Callback::from(move |e: MouseEvent| on_click.emit((id, e.shift_key())))
    };
    let like = {
        let on_like = props.on_like.clone();
        Callback::from(move |e: MouseEvent| {
            e.stop_propagation();
            on_like.emit(id);
        })
    };
    let caption = props
        .caption
        .clone()
        .unwrap_or_else(|| format!("image {id}").into());
    html! {
        <figure
            class={classes!("tile", props.label.as_str(), props.focused.then_some("focus"))}
            data-testid="result" data-id={id.to_string()} data-label={props.label.as_str()}
            title={caption.clone()} {onclick}>
            if let Some(thumb) = &props.thumb {
                <img src={thumb.clone()} alt={caption.clone()} loading="lazy" />
            } else {
                <div class="placeholder">{id}</div>
            }
            <figcaption>{caption}</figcaption>
            <button class="like" data-testid="more-like-this" title="more like this" onclick={like}>{"≈"}</button>
        </figure>
    }
}

fn value_of_select(e: &Event) -> Option<String> {
    e.target_dyn_into::<HtmlSelectElement>().map(|s| s.value())
}

fn fmt_ms(ms: f64) -> String {
    format!("{ms:.1} ms")
}

fn times_text(times: &StageTimes) -> String {
    let mut parts = Vec::new();
    for (name, ms) in [
        ("fetch", times.fetch_ms),
        ("encode", times.encode_ms),
        ("k-NN", times.knn_ms),
        ("train", times.train_ms),
        ("search", times.search_ms),
    ] {
        if ms > 0.0 {
            parts.push(format!("{name} {}", fmt_ms(ms)));
        }
    }
    parts.join(" · ")
}

#[derive(Properties, PartialEq)]
struct MainProps {
    embed: Option<Embed>,
    assets: AttrValue,
}

#[component]
fn Main(props: &MainProps) -> Html {
    let state = {
        let embed = props.embed.clone();
        use_reducer(move || match embed {
            Some(embed) => State::new(embed.query.map(SharedSearch::text)),
            None => {
                let params = url_params();
                let shared =
                    SharedSearch::from_params(params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                State::new(shared.ok())
            }
        })
    };
    let counter = use_memo((), |_| Rc::new(Cell::new(0u32)));
    let bridge = {
        let dispatch = state.dispatcher();
        use_reactor_bridge::<SearchWorker, _>(move |event| {
            if let ReactorEvent::Output(reply) = event {
                dispatch.dispatch(Msg::Reply(reply));
            }
        })
    };
    let text_bridge = use_mut_ref(|| None);
    let encoding = use_mut_ref(|| None);
    let sender = Sender {
        bridge,
        seq: (*counter).clone(),
        state: state.dispatcher(),
        text: text_bridge,
        encoding,
    };
    // Item chunks being fetched, by dataset folder and chunk: each is asked for once at a time.
    let chunks_in_flight = use_mut_ref(HashSet::<(String, usize)>::new);
    // The page URL's `workers` (how many workers train an ensemble's members; default the
    // browser's cores), read once.
    let page_workers = use_memo((), |_| {
        url_params()
            .iter()
            .find(|(n, _)| n == "workers")
            .and_then(|(_, v)| v.parse::<u32>().ok())
    });
    let helpers = use_mut_ref(Vec::<ReactorBridge<SearchWorker>>::new);
    let query_text = use_state(String::new);
    let saved_text = use_state(String::new);

    // Catalog and dataset: the element's `dataset` attribute (again when it changes), or
    // the page URL's, once.
    {
        let sender = sender.clone();
        let source = props.embed.as_ref().map(|e| e.source.clone());
        use_effect_with(source, move |source| {
            if let Some(source) = source {
                sender.state.dispatch(Msg::DismissError);
                match source.clone() {
                    DataSource::Catalog(url) => open_catalog(url, None, sender),
                    DataSource::Folder(base) => open_folder(base, None, sender),
                }
                return;
            }
            let params = url_params();
            let catalog = params
                .iter()
                .find(|(n, _)| n == "catalog")
                .map_or_else(|| DEFAULT_CATALOG.to_owned(), |(_, v)| v.clone());
            let shared =
                SharedSearch::from_params(params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            match shared {
                Ok(shared) => open_catalog(catalog, shared.dataset, sender),
                Err(e) => {
                    sender.state.dispatch(Msg::Error(Failure::new(
                        "reading the URL",
                        e,
                        "fix or drop that parameter",
                    )));
                    open_catalog(catalog, None, sender);
                }
            }
        });
    }

    // The element's `query` attribute: a new value is wanted like a shared URL's query.
    {
        let dispatch = state.dispatcher();
        let query = props.embed.as_ref().and_then(|e| e.query.clone());
        let first = use_mut_ref(|| true);
        use_effect_with(query, move |query| {
            // The first value is already wanted (`State::new`).
            if !std::mem::replace(&mut *first.borrow_mut(), false)
                && let Some(text) = query
            {
                dispatch.dispatch(Msg::Want(SharedSearch::text(text.clone())));
            }
        });
    }

    // A wanted query (shared URL, element attribute) runs once the dataset is open; an
    // element's query runs again on each dataset its `dataset` attribute opens.
    {
        let sender = sender.clone();
        let state = state.clone();
        let query_text = query_text.clone();
        let started = use_mut_ref(|| (0u32, None::<String>));
        // A text query also waits for the text worker's bridge (its load is queued first).
        let linked = state.text_load_seq != 0 || state.text == TextState::Absent;
        let opened = props
            .embed
            .as_ref()
            .and(state.dataset.as_ref())
            .map(|d| d.base.clone());
        // The wanted search is consumed by its first results; a reopen reruns the attribute.
        let element_query = props.embed.as_ref().and_then(|e| e.query.clone());
        use_effect_with(
            (state.ready, linked, state.wanted, opened),
            move |(ready, linked, wanted, opened)| {
                let run = (*wanted, opened.clone());
                if *ready
                    && *linked
                    && *started.borrow() != run
                    && let Some(shared) = state
                        .url_search
                        .clone()
                        .or_else(|| element_query.map(SharedSearch::text))
                {
                    *started.borrow_mut() = run;
                    if let Query::Text(text) = &shared.query {
                        query_text.set(text.clone());
                    }
                    run_query(&state, shared.query.clone(), &sender);
                }
            },
        );
    }

    // An ensemble round's members train in parts in the helper workers; the parts then go
    // back to the search worker, which joins them and searches.
    {
        let round = state.ensemble.clone();
        let sender = sender.clone();
        let helpers = helpers.clone();
        let worker_path = format!("{}worker.js", props.assets);
        let page_workers = page_workers.clone();
        use_effect_with(round.as_ref().map(|r| r.seq), move |_| {
            let Some(round) = round else { return };
            let shares = member_shares(round.plan.members(), ensemble_workers(&page_workers));
            let mut pool = std::mem::take(&mut *helpers.borrow_mut());
            while pool.len() < shares.len() {
                pool.push(ReactorSpawner::<SearchWorker, SerdeWasm>::new().spawn(&worker_path));
            }
            spawn_local(async move {
                let trained = train_parts(&mut pool, &round, shares).await;
                *helpers.borrow_mut() = pool;
                if sender.seq.get() != round.seq {
                    return; // the user moved on
                }
                match trained {
                    Ok(parts) => sender.send(
                        Task::Join {
                            plan: (*round.plan).clone(),
                            parts,
                            train_ms: net::now_ms() - round.started_ms,
                        },
                        Pending::FineTune,
                    ),
                    Err(failure) => sender.state.dispatch(Msg::Reply(WorkerReply {
                        seq: round.seq,
                        body: ReplyBody::Failed(failure),
                    })),
                }
            });
        });
    }

    // Item metadata for the tiles shown.
    {
        let state = state.clone();
        let shown: Vec<u32> = state.session.shown().to_vec();
        let dataset = state.dataset.clone();
        let requested = chunks_in_flight.clone();
        use_effect_with((shown, dataset), move |(shown, dataset)| {
            let Some(dataset) = dataset.clone() else {
                return;
            };
            let mut chunks: Vec<usize> = shown
                .iter()
                .filter_map(|&id| dataset.manifest.chunk_of(u64::from(id)).map(|(c, _)| c))
                .collect();
            chunks.sort_unstable();
            chunks.dedup();
            for chunk in chunks {
                let key = (dataset.base.clone(), chunk);
                if state.items.contains_key(&chunk) || !requested.borrow_mut().insert(key.clone()) {
                    continue;
                }
                let dispatch = state.dispatcher();
                let dataset = dataset.clone();
                let requested = requested.clone();
                spawn_local(async move {
                    match load_chunk(&dataset, chunk).await {
                        Ok((items, network)) => {
                            dispatch.dispatch(Msg::NetworkBytes(network));
                            dispatch.dispatch(Msg::Items {
                                base: dataset.base.clone(),
                                chunk,
                                items,
                            });
                        }
                        Err(f) => dispatch.dispatch(Msg::Error(f)),
                    }
                    // No longer in flight: a later visit to this dataset (whose items were
                    // cleared on leaving it) fetches the chunk again.
                    requested.borrow_mut().remove(&key);
                });
            }
        });
    }

    // The page URL follows the search (not when embedded: the host page owns its URL).
    {
        let shared = state.shared();
        let catalog_url = state.catalog_url.clone();
        let ready = state.ready && props.embed.is_none();
        use_effect_with(
            (shared, catalog_url, ready),
            move |(shared, catalog_url, ready)| {
                if *ready {
                    write_url(catalog_url, shared);
                }
            },
        );
    }

    let s = &*state;
    let dispatch = state.dispatcher();
    let session_action = {
        let dispatch = dispatch.clone();
        move |action: Action| dispatch.dispatch(Msg::Session(action))
    };

    let on_search = {
        let state = state.clone();
        let sender = sender.clone();
        let query_text = query_text.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let text = query_text.trim().to_owned();
            if !text.is_empty() {
                run_query(&state, Query::Text(text), &sender);
            }
        })
    };
    let on_query_input = {
        let query_text = query_text.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(v) = e.target_dyn_into::<HtmlInputElement>().map(|i| i.value()) {
                query_text.set(v);
            }
        })
    };
    let on_like = {
        let state = state.clone();
        let sender = sender.clone();
        Callback::from(move |id: u32| run_query(&state, Query::Like(id), &sender))
    };
    let on_click = {
        let act = session_action.clone();
        Callback::from(move |(id, shift): (u32, bool)| act(Action::Click { id, shift }))
    };
    let fine_tune = {
        let state = state.clone();
        let sender = sender.clone();
        let page_workers = page_workers.clone();
        move || {
            if state.busy() || !state.ready {
                return;
            }
            let settings = state.settings;
            let mut request = SearchRequest::new(state.session.labels.relevant());
            request.negatives = state.session.labels.irrelevant();
            request.random_negatives = settings.random_negatives;
            request.negative_weight = settings.negative_weight;
            request.searcher = settings.searcher;
            if settings.searcher == Searcher::Ensemble && ensemble_workers(&page_workers) > 1 {
                sender.send(Task::PlanEnsemble { request }, Pending::Plan(net::now_ms()));
            } else {
                sender.send(Task::FineTune { request }, Pending::FineTune);
            }
        }
    };
    let on_finetune = {
        let fine_tune = fine_tune.clone();
        Callback::from(move |_: MouseEvent| fine_tune())
    };
    let on_key = {
        let act = session_action.clone();
        let fine_tune = fine_tune.clone();
        Callback::from(move |e: KeyboardEvent| {
            let action = match e.key().as_str() {
                "ArrowRight" => Action::MoveFocus(1),
                "ArrowLeft" => Action::MoveFocus(-1),
                "ArrowDown" => Action::MoveFocus(COLUMNS),
                "ArrowUp" => Action::MoveFocus(-COLUMNS),
                "r" => Action::LabelFocused(Label::Relevant),
                "i" => Action::LabelFocused(Label::Irrelevant),
                "n" => Action::LabelFocused(Label::None),
                "u" => Action::Undo,
                "Enter" => {
                    e.prevent_default();
                    fine_tune();
                    return;
                }
                _ => return,
            };
            e.prevent_default();
            act(action);
        })
    };
    let set_settings = {
        let dispatch = dispatch.clone();
        let settings = s.settings;
        move |change: &dyn Fn(&mut Settings)| {
            let mut next = settings;
            change(&mut next);
            dispatch.dispatch(Msg::Settings(next));
        }
    };
    let on_searcher = {
        let set = set_settings.clone();
        Callback::from(move |e: Event| {
            if let Some(searcher) = value_of_select(&e).as_deref().and_then(searcher_from_name) {
                set(&|s: &mut Settings| s.searcher = searcher);
            }
        })
    };
    let on_random = {
        let set = set_settings.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(v) = e
                .target_dyn_into::<HtmlInputElement>()
                .and_then(|i| i.value().parse().ok())
            {
                set(&|s: &mut Settings| s.random_negatives = v);
            }
        })
    };
    let on_weight = {
        let set = set_settings.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(v) = e
                .target_dyn_into::<HtmlInputElement>()
                .and_then(|i| i.value().parse().ok())
            {
                set(&|s: &mut Settings| s.negative_weight = v);
            }
        })
    };
    let on_dataset = {
        let state = state.clone();
        let sender = sender.clone();
        Callback::from(move |e: Event| {
            let Some(name) = value_of_select(&e) else {
                return;
            };
            let Some(catalog) = &state.catalog else {
                return;
            };
            if let Some(entry) = catalog.datasets.iter().find(|d| d.name == name) {
                sender.state.dispatch(Msg::DismissError);
                open_dataset(
                    state.catalog_url.clone(),
                    entry.name.clone(),
                    entry.path.clone(),
                    sender.clone(),
                );
            }
        })
    };
    let label_shown = |label: Label| {
        let act = session_action.clone();
        Callback::from(move |_: MouseEvent| act(Action::LabelShown(label)))
    };
    let page = |to: usize| {
        let act = session_action.clone();
        Callback::from(move |_: MouseEvent| act(Action::Page(to)))
    };
    let export = |format: &'static str| {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| {
            let state = state.clone();
            spawn_local(async move {
                let Some(dataset) = state.dataset.clone() else {
                    return;
                };
                let labels: Vec<u32> = state.session.labels.iter().map(|(id, _)| id).collect();
                let mut chunks: Vec<usize> = state
                    .session
                    .round
                    .ids
                    .iter()
                    .chain(&labels)
                    .filter_map(|&id| dataset.manifest.chunk_of(u64::from(id)).map(|(c, _)| c))
                    .collect();
                chunks.sort_unstable();
                chunks.dedup();
                let mut items = state.items.clone();
                for chunk in chunks {
                    if let std::collections::hash_map::Entry::Vacant(slot) = items.entry(chunk) {
                        match load_chunk(&dataset, chunk).await {
                            Ok((loaded, _)) => {
                                slot.insert(loaded);
                            }
                            Err(f) => return state.dispatch(Msg::Error(f)),
                        }
                    }
                }
                let item = |id: u32| {
                    let (chunk, offset) = dataset.manifest.chunk_of(u64::from(id))?;
                    items.get(&chunk)?.get(offset)
                };
                let rows =
                    share::export_rows(&state.session.round.ids, &state.session.labels, item);
                let (text, mime) = match format {
                    "csv" => (share::to_csv(&rows), "text/csv"),
                    _ => (share::to_json(&rows), "application/json"),
                };
                let name = format!("{}-results.{format}", dataset.name);
                if let Err(e) = download(&name, mime, &text) {
                    state.dispatch(Msg::Error(Failure::new(
                        "exporting",
                        describe(&e),
                        "try again",
                    )));
                }
            });
        })
    };
    let on_save = {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| {
            let Some(model) = &state.session.round.model else {
                return;
            };
            let json = serde_json::to_string_pretty(model).unwrap_or_default();
            if let Err(e) = download("saved-search.json", "application/json", &json) {
                state.dispatch(Msg::Error(Failure::new(
                    "saving the search",
                    describe(&e),
                    "try again",
                )));
            }
        })
    };
    let on_saved_input = {
        let saved_text = saved_text.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(area) = e.target_dyn_into::<web_sys::HtmlTextAreaElement>() {
                saved_text.set(area.value());
            }
        })
    };
    let on_apply = {
        let state = state.clone();
        let sender = sender.clone();
        let saved_text = saved_text.clone();
        Callback::from(move |_: MouseEvent| {
            if !state.ready || state.busy() {
                return;
            }
            match serde_json::from_str::<Model>(&saved_text) {
                Ok(model) => sender.send(Task::Apply { model }, Pending::Apply),
                Err(e) => state.dispatch(Msg::Error(Failure::new(
                    "reading the saved search",
                    e,
                    "paste the JSON that \"save search\" wrote",
                ))),
            }
        })
    };
    let on_text_bridge = {
        let sender = sender.clone();
        let state = state.clone();
        Callback::from(move |bridge: UseReactorBridgeHandle<TextWorker>| {
            *sender.text.borrow_mut() = Some(bridge);
            if let Some(dataset) = &state.dataset
                && let Some(encoder) = &dataset.manifest.text
            {
                sender.send_text(TextTask::Load {
                    base: dataset.base.clone(),
                    encoder: encoder.clone(),
                });
            }
        })
    };
    let on_text_reply = {
        let sender = sender.clone();
        Callback::from(move |reply: TextReply| sender.on_text_reply(reply))
    };
    let dismiss = {
        let dispatch = dispatch.clone();
        Callback::from(move |_: MouseEvent| dispatch.dispatch(Msg::DismissError))
    };

    let session = &s.session;
    let base = s
        .dataset
        .as_ref()
        .map(|d| d.base.clone())
        .unwrap_or_default();
    let first_shown = session.page * crate::session::PAGE_SIZE;
    // New results show once their captions and thumbnail names are in, so that no tile
    // is drawn with a stand-in caption; if loading them failed (the error panel says
    // so), the tiles show with their ids.
    let items_shown = s.items_shown();
    let grid = if items_shown || s.error.is_some() {
        session.shown()
    } else {
        &[]
    };
    let tiles = grid.iter().enumerate().map(|(k, &id)| {
        let item = s.item(id);
        html! {
            <Tile key={id} id={id} label={session.labels.get(id)}
                focused={session.focus == Some(first_shown + k)}
                thumb={item.map(|i| AttrValue::from(format!("{base}{}", i.thumb)))}
                caption={item.map(|i| AttrValue::from(items::caption_line(id, i)))}
                on_click={on_click.clone()} on_like={on_like.clone()} />
        }
    });
    let pages = session.pages();
    let counts = (
        session.labels.relevant().len(),
        session.labels.irrelevant().len(),
    );
    let dataset_name = s
        .dataset
        .as_ref()
        .map(|d| d.name.clone())
        .unwrap_or_default();
    // The catalog's datasets; a dataset folder opened without a catalog is the only one.
    let choices: Vec<(String, u64)> = match (&s.catalog, &s.dataset) {
        (Some(catalog), _) => catalog
            .datasets
            .iter()
            .map(|d| (d.name.clone(), d.count))
            .collect(),
        (None, Some(d)) => vec![(d.name.clone(), d.manifest.count)],
        (None, None) => Vec::new(),
    };
    let busy = s.busy() || !s.ready;
    let text_link = s
        .dataset
        .as_ref()
        .filter(|d| d.manifest.text.is_some())
        .map(|d| d.base.clone());
    let text_status = match &s.text {
        TextState::Absent => String::new(),
        TextState::Loading(None) => "text encoder: loading".to_owned(),
        TextState::Loading(Some(p)) => format!(
            "text encoder: {}/{} bytes ({:.0}%)",
            p.bytes_done,
            p.bytes_total,
            p.percent()
        ),
        TextState::Ready { warmup_ms, .. } => {
            format!("text encoder ready (warm-up {})", fmt_ms(*warmup_ms))
        }
        TextState::Failed => "text encoder failed".to_owned(),
    };

    html! {
        <div class="app">
            <header>
                <h1>{"CLIP-Branches"}</h1>
                <label>{"dataset "}
                    <select data-testid="dataset" onchange={on_dataset}>
                        { for choices.into_iter().map(|(name, count)| html! {
                            <option value={name.clone()} selected={name == dataset_name}>
                                {format!("{name} ({count} images)")}
                            </option>
                        }) }
                    </select>
                </label>
                <form class="query" onsubmit={on_search}>
                    <input data-testid="query" type="search" placeholder="describe the images you want"
                        value={(*query_text).clone()} oninput={on_query_input} />
                    <button data-testid="search" type="submit" disabled={busy}>{"Search"}</button>
                </form>
                <span class="backend">{"backend "}<b data-testid="backend">{s.backend().as_str()}</b></span>
                <span class="text-status" data-testid="text-status">{text_status}</span>
            </header>
            if let Some(key) = text_link {
                <TextLink {key} on_bridge={on_text_bridge} on_reply={on_text_reply} />
            }
            if let Some(f) = &s.error {
                <div class="error" data-testid="error" role="alert">
                    <b>{format!("{} failed: ", f.what)}</b>{&f.message}
                    <div class="hint">{&f.hint}</div>
                    <button data-testid="dismiss-error" onclick={dismiss}>{"dismiss"}</button>
                </div>
            }
            if let Some(p) = &s.progress {
                <div class="progress" data-testid="progress">
                    <progress max="100" value={format!("{:.0}", p.percent())} />
                    {format!(" {}: {}/{} files, {}/{} bytes ({:.0}%)", p.what, p.files_done, p.files_total,
                        p.bytes_done, p.bytes_total, p.percent())}
                </div>
            } else if busy {
                <div class="progress" data-testid="progress">{"working…"}</div>
            } else if grid.len() < session.shown().len() {
                <div class="progress" data-testid="progress">{"loading captions…"}</div>
            }
            <section class="controls">
                <button data-testid="all-relevant" onclick={label_shown(Label::Relevant)}>{"all relevant"}</button>
                <button data-testid="all-irrelevant" onclick={label_shown(Label::Irrelevant)}>{"all irrelevant"}</button>
                <button data-testid="clear" onclick={label_shown(Label::None)}>{"clear"}</button>
                <label>{format!("random negatives {} ", s.settings.random_negatives)}
                    <input data-testid="random-negatives" type="range" min="0" max="1000"
                        value={s.settings.random_negatives.to_string()} oninput={on_random} />
                </label>
                <label>{format!("negative weight {} ", s.settings.negative_weight)}
                    <input data-testid="negative-weight" type="range" min="1" max="100"
                        value={s.settings.negative_weight.to_string()} oninput={on_weight} />
                </label>
                <select data-testid="searcher" onchange={on_searcher}>
                    { for [Searcher::DBranches, Searcher::Ensemble, Searcher::DecisionTree, Searcher::RandomForest]
                        .into_iter().map(|sr| html! {
                            <option value={searcher_name(sr)} selected={sr == s.settings.searcher}>
                                {match sr {
                                    Searcher::DBranches => "DBranches",
                                    Searcher::Ensemble => "DBranches ensemble",
                                    Searcher::DecisionTree => "decision tree",
                                    Searcher::RandomForest => "random forest",
                                }}
                            </option>
                        }) }
                </select>
                <button data-testid="finetune" onclick={on_finetune} disabled={busy}>{"Fine-tune search"}</button>
                <button data-testid="undo" disabled={session.undoable() == 0}
                    onclick={{ let act = session_action.clone(); Callback::from(move |_: MouseEvent| act(Action::Undo)) }}>
                    {"undo round"}
                </button>
            </section>
            <section class="status">
                <span data-testid="count">{session.round.ids.len()}</span>{" results · "}
                {format!("{} relevant, {} irrelevant labelled · ", counts.0, counts.1)}
                <span data-testid="times">{times_text(&session.round.times)}</span>
                {format!(" · {} bytes downloaded", s.network_bytes)}
            </section>
            <div class="grid" tabindex="0" onkeydown={on_key}>{ for tiles }</div>
            <nav class="pager">
                <button data-testid="prev-page" disabled={session.page == 0}
                    onclick={page(session.page.saturating_sub(1))}>{"previous"}</button>
                <span data-testid="page">{format!("page {} of {}", session.page + 1, pages.max(1))}</span>
                <button data-testid="next-page" disabled={session.page + 1 >= pages}
                    onclick={page(session.page + 1)}>{"next"}</button>
            </nav>
            <section class="rules" data-testid="rules">
                <h2>{"Rules"}</h2>
                if session.round.rules.is_empty() {
                    <p>{"no boxes yet: label images and fine-tune (the tree baselines have none)"}</p>
                } else {
                    <ol class="readable">{ for session.round.rules.iter().map(|r| html! { <li>{r}</li> }) }</ol>
                    <pre class="sql">{session.round.sql.join(";\n")}</pre>
                }
            </section>
            <section class="share">
                <button data-testid="export-json" onclick={export("json")}>{"export JSON"}</button>
                <button data-testid="export-csv" onclick={export("csv")}>{"export CSV"}</button>
                <button data-testid="save-search" onclick={on_save} disabled={session.round.model.is_none()}>{"save search"}</button>
                <textarea data-testid="saved-search" placeholder="paste a saved search (JSON)"
                    value={(*saved_text).clone()} oninput={on_saved_input} />
                <button data-testid="apply-search" onclick={on_apply} disabled={busy}>{"apply saved search"}</button>
            </section>
        </div>
    }
}
