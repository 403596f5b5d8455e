//! The page's state and the messages that change it: every worker reply, loaded file and
//! user action becomes a [`Msg`] that [`State::apply`] folds in. Plain Rust with no browser
//! calls, so the transitions are tested natively like [`crate::session`]; the Yew reducer
//! around it is a few wasm-only lines at the end.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use branches::{EnsemblePlan, SearchRequest, Searcher, TrainingSettings};
use dataset::items_table::ItemsDirectory;
use dataset::{Catalog, DatasetManifest, Item, SearchSettings, Slider};

use super::DEFAULT_CATALOG;
use crate::protocol::{
    Backend, Failure, Progress, ReplyBody, TextBody, TextReply, TextTask, WorkerReply,
};
use crate::session::{Action, FIRST_RESULTS, Query, Ranked, Round, Session};
use crate::share::{SharedSearch, searcher_from_name};

/// What an embedding page is told of the results shown (the element's `results` and
/// `round` events' `detail`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ResultsEvent {
    /// The text query, if the results are of one.
    pub query: Option<String>,
    /// The image whose neighbours they are ("more like this"), if so.
    pub like: Option<u32>,
    /// How many results.
    pub count: usize,
    /// Every result id, ranked.
    pub ids: Vec<u32>,
    /// Ids labelled relevant.
    pub relevant: Vec<u32>,
    /// Ids labelled irrelevant.
    pub irrelevant: Vec<u32>,
    /// Fine-tune rounds behind the results (0 for a query's neighbours).
    pub round: usize,
    /// The searcher that trained them (`db`, `ens`, `dtree`, `rf`), after a round.
    pub searcher: Option<&'static str>,
    /// The model's boxes as rules, after a round.
    pub rules: Vec<String>,
}

/// The open dataset, as the page knows it.
#[derive(Debug)]
pub struct OpenDataset {
    /// The catalog's name for it (without a catalog, the name in `dataset.json`).
    pub name: String,
    /// The folder's absolute URL, ending in `/`.
    pub base: String,
    /// Its `dataset.json`.
    pub manifest: DatasetManifest,
    /// Its items table as far as read (the top and the pages fetched so far): the item
    /// loads fill it in.
    pub items: RefCell<ItemsDirectory>,
}

/// The same dataset: what of its items table has been read is a cache, not part of it, and
/// it grows as the user pages, while the page compares its dataset on every render.
impl PartialEq for OpenDataset {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.base == other.base && self.manifest == other.manifest
    }
}

impl OpenDataset {
    /// The dataset at `base` with this `dataset.json`, nothing of its items table read.
    pub fn new(name: String, base: String, manifest: DatasetManifest) -> Self {
        let items = RefCell::new(ItemsDirectory::new(manifest.items.clone()));
        Self {
            name,
            base,
            manifest,
            items,
        }
    }

    /// Its search settings: `dataset.json`'s, else the app's defaults.
    pub fn search_settings(&self) -> SearchSettings {
        self.manifest.search.clone().unwrap_or_default()
    }

    /// The searchers it offers, the default first.
    pub fn searchers(&self) -> Vec<Searcher> {
        let settings = self.search_settings();
        settings
            .searchers
            .iter()
            .filter_map(|name| searcher_from_name(name))
            .collect()
    }

    /// The training settings its search settings give (the defaults without).
    ///
    /// # Errors
    /// `training` is no `branches::TrainingSettings` (serde's message names the field).
    pub fn training(&self) -> Result<TrainingSettings, serde_json::Error> {
        match &self.manifest.search {
            Some(search) => serde_json::from_value(search.training.clone().into()),
            None => Ok(TrainingSettings::default()),
        }
    }

    /// The settings a round starts with on this dataset: its default searcher and sliders.
    pub fn default_settings(&self) -> Settings {
        Settings::starting(&self.search_settings())
    }

    /// The next round's settings on this dataset, from `current`, the settings so far, and
    /// `defaults`, those they started from (the last dataset's, or the app's): a value left
    /// at its default takes this dataset's; a changed one (the user's, a shared URL's)
    /// stays, if this dataset offers that searcher, and clamped to its sliders' ranges.
    pub fn settings_from(&self, current: Settings, defaults: Settings) -> Settings {
        let search = self.search_settings();
        let own = Settings::starting(&search);
        let slider = |value: u32, default: u32, slider: Slider| {
            if value == default {
                slider.default
            } else {
                value.clamp(slider.min, slider.max)
            }
        };
        Settings {
            searcher: if current.searcher != defaults.searcher
                && self.searchers().contains(&current.searcher)
            {
                current.searcher
            } else {
                own.searcher
            },
            random_negatives: slider(
                current.random_negatives,
                defaults.random_negatives,
                search.random_negatives,
            ),
            negative_weight: slider(
                current.negative_weight,
                defaults.negative_weight,
                search.negative_weight,
            ),
        }
    }

    /// The item chunks that hold `ids`, ascending and each once (ids out of range have none).
    pub fn chunks_of(&self, ids: impl IntoIterator<Item = u32>) -> Vec<u64> {
        let mut chunks: Vec<u64> = ids
            .into_iter()
            .filter_map(|id| self.manifest.chunk_of(u64::from(id)).map(|(c, _)| c))
            .collect();
        chunks.sort_unstable();
        chunks.dedup();
        chunks
    }
}

/// What the request in flight is for.
#[derive(Clone, Debug, PartialEq)]
pub enum Pending {
    /// Opening the dataset's index.
    Open,
    /// Opening it again in a restarted search worker: the session stays as it was.
    Reopen,
    /// k-NN for a query.
    Knn(Query),
    /// A longer k-NN list for the session's query ("more results").
    More(Query),
    /// A round of search by classification.
    FineTune,
    /// A saved search applied.
    Apply,
    /// An ensemble round's plan, asked for at this time (`net::now_ms`).
    Plan(f64),
    /// The plan's members training in the helper workers.
    Members,
}

impl Pending {
    /// What the request was doing, for the error panel.
    pub fn doing(&self) -> &'static str {
        match self {
            Pending::Open | Pending::Reopen => "opening the dataset",
            Pending::Knn(_) | Pending::More(_) => "finding the nearest images",
            Pending::FineTune | Pending::Plan(_) | Pending::Members => "the fine-tune round",
            Pending::Apply => "applying the saved search",
        }
    }
}

/// Which failed request the error panel's retry sends again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The latest request to the search worker.
    Search,
    /// Loading the text encoder.
    TextLoad,
}

/// An ensemble round being trained in parts: the `seq` of its plan's request, when that
/// was sent (`net::now_ms`) and the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleRound {
    /// The plan request's `seq`: the round is stale once another request is sent.
    pub seq: u32,
    /// When the plan was asked for, for the round's train time.
    pub started_ms: f64,
    /// The plan the helpers train.
    pub plan: Rc<EnsemblePlan>,
    /// The images labelled when the round was asked for, sorted.
    pub labelled: Vec<u32>,
}

/// Settings of the next round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The classifier.
    pub searcher: Searcher,
    /// Random images added as irrelevant.
    pub random_negatives: u32,
    /// How many times each irrelevant image counts.
    pub negative_weight: u32,
}

impl Settings {
    /// The settings `search` starts a round with: its first searcher, its sliders' defaults.
    pub fn starting(search: &SearchSettings) -> Self {
        Self {
            searcher: search
                .searchers
                .iter()
                .find_map(|name| searcher_from_name(name))
                .unwrap_or(Searcher::DBranches),
            random_negatives: search.random_negatives.default,
            negative_weight: search.negative_weight.default,
        }
    }
}

/// Where the dataset's text encoder is.
#[derive(Clone, Debug, PartialEq)]
pub enum TextState {
    /// The dataset has none.
    Absent,
    /// Being fetched and warmed up.
    Loading(Option<Progress>),
    /// Ready on `backend`.
    Ready {
        /// Where it runs.
        backend: Backend,
        /// The warm-up encode's time.
        warmup_ms: f64,
    },
    /// Loading failed (the error panel says why).
    Failed,
}

/// Everything the page shows and the requests it waits for.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// The catalog's URL (the page URL keeps it when it is not the default).
    pub catalog_url: String,
    /// The catalog, once loaded (none when a dataset folder is opened directly).
    pub catalog: Option<Rc<Catalog>>,
    /// The dataset being opened or open.
    pub dataset: Option<Rc<OpenDataset>>,
    /// The worker has the dataset open.
    pub ready: bool,
    /// The latest request; replies to older ones are dropped.
    pub seq: u32,
    /// What the latest request is for, until its answer.
    pub pending: Option<Pending>,
    /// The latest request's download progress.
    pub progress: Option<Progress>,
    /// The query session: results, labels, rounds.
    pub session: Session,
    /// Item chunks of the open dataset loaded so far, by chunk number.
    pub items: HashMap<u64, Rc<Vec<Item>>>,
    /// What the error panel shows.
    pub error: Option<Failure>,
    /// The failed request the error panel offers to send again.
    pub retry: Option<Retry>,
    /// Settings of the next round.
    pub settings: Settings,
    /// What a shared URL (or the element's `query`) asks for once the dataset is open.
    pub url_search: Option<SharedSearch>,
    /// Counts the searches wanted so far (`url_search`), so each runs once.
    pub wanted: u32,
    /// Bytes of dataset files the page and the worker fetched from the network.
    pub network_bytes: u64,
    /// The text encoder's state.
    pub text: TextState,
    /// The text worker's latest `Load` request.
    pub text_load_seq: u32,
    /// The text worker's latest `Encode` request.
    pub text_encode_seq: u32,
    /// The last text encode time, for the next k-NN round's times.
    pub encode_ms: f64,
    /// The text worker is encoding an image query (and perhaps fetching its encoder).
    pub encoding_image: bool,
    /// The ensemble round whose members the helper workers train.
    pub ensemble: Option<EnsembleRound>,
    /// How many times the search worker ended and was started again.
    pub worker_restarts: u32,
    /// How many times the text worker ended and was started again.
    pub text_restarts: u32,
}

/// Something that changes the [`State`].
#[derive(Debug)]
pub enum Msg {
    /// The catalog at this URL loaded.
    Catalog(String, Rc<Catalog>),
    /// A dataset's `dataset.json` loaded: it becomes the open one (the worker opens its index).
    Dataset(Rc<OpenDataset>),
    /// A request with this `seq` went to the search worker.
    Sent(u32, Pending),
    /// The search worker answered.
    Reply(WorkerReply),
    /// Items chunk `chunk` of the dataset at `base` (the URL of the dataset it was asked for).
    Items {
        /// The dataset's folder URL.
        base: String,
        /// The chunk number.
        chunk: u64,
        /// Its items.
        items: Rc<Vec<Item>>,
    },
    /// Bytes the page fetched from the network.
    NetworkBytes(u64),
    /// A change to the query session.
    Session(Action),
    /// New settings for the next round.
    Settings(Settings),
    /// Something failed: the error panel shows it.
    Error(Failure),
    /// The error panel was dismissed.
    DismissError,
    /// A search to run once the dataset is open (shared URL, element attribute).
    Want(SharedSearch),
    /// A request with this `seq` went to the text worker; `true` for a `Load`.
    TextSent(u32, bool),
    /// An image query with this `seq` went to the text worker.
    ImageSent(u32),
    /// The text worker answered.
    Text(TextReply),
    /// The search worker ended (closed, terminated, crashed); a fresh one is starting.
    WorkerStopped,
    /// The text worker ended; a fresh one is starting and loads the encoder again.
    /// `encoding`: a text was being encoded.
    TextWorkerStopped {
        /// Whether a text was being encoded.
        encoding: bool,
    },
}

impl State {
    /// The state of a page that has loaded nothing yet; `url_search` is what its URL (or
    /// its element's `query`) asks for.
    pub fn new(url_search: Option<SharedSearch>) -> Self {
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
            retry: None,
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
            encoding_image: false,
            ensemble: None,
            worker_restarts: 0,
            text_restarts: 0,
        }
    }

    /// Folds `msg` in; false when it is dropped and nothing changed (a reply to an older
    /// request, a chunk of a dataset left since).
    pub fn apply(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Catalog(url, catalog) => {
                self.catalog_url = url;
                self.catalog = Some(catalog);
            }
            Msg::Dataset(dataset) => {
                self.text = if dataset.manifest.text.is_some() {
                    TextState::Loading(None)
                } else {
                    TextState::Absent
                };
                let defaults = self.dataset.as_ref().map_or_else(
                    || Settings::starting(&SearchSettings::default()),
                    |d| d.default_settings(),
                );
                self.settings = dataset.settings_from(self.settings, defaults);
                // The collection in id order shows at once, from `dataset.json` alone: its
                // item chunks and thumbnails load while the worker opens the index (about
                // 100 ms sooner on a warm load).
                let count = u32::try_from(dataset.manifest.count).unwrap_or(u32::MAX);
                self.dataset = Some(dataset);
                self.ready = false;
                self.items.clear();
                self.session = Session::default();
                self.session.apply(Action::Show {
                    query: Query::None,
                    round: Round {
                        ids: Ranked::Collection(count),
                        ..Round::default()
                    },
                });
            }
            Msg::Sent(seq, pending) => {
                self.seq = seq;
                // Reopening keeps the retry of the request the stopped worker lost.
                if self.retry == Some(Retry::Search) && pending != Pending::Reopen {
                    self.retry = None;
                }
                self.pending = Some(pending);
                self.progress = None;
            }
            Msg::Reply(reply) if reply.seq == self.seq => self.on_reply(reply.body),
            Msg::Reply(_) => return false,
            // A chunk asked for before a switch to another dataset is not this one's.
            Msg::Items { base, chunk, items } => match &self.dataset {
                Some(open) if open.base == base => {
                    self.items.insert(chunk, items);
                }
                _ => return false,
            },
            Msg::NetworkBytes(bytes) => self.network_bytes += bytes,
            Msg::Session(action) => self.session.apply(action),
            Msg::Settings(settings) => self.settings = settings,
            Msg::Error(failure) => {
                self.error = Some(failure);
                self.retry = None;
            }
            Msg::DismissError => {
                self.error = None;
                self.retry = None;
            }
            Msg::Want(shared) => {
                self.url_search = Some(shared);
                self.wanted += 1;
            }
            Msg::TextSent(seq, load) => {
                if load {
                    self.text_load_seq = seq;
                    self.text = TextState::Loading(None);
                } else {
                    self.text_encode_seq = seq;
                }
            }
            Msg::ImageSent(seq) => {
                self.text_encode_seq = seq;
                self.encoding_image = true;
            }
            Msg::Text(reply) => self.on_text(reply),
            Msg::TextWorkerStopped { encoding } => {
                self.text_restarts += 1;
                let doing = match (&self.text, encoding) {
                    (_, true) => Some("encoding the query"),
                    (TextState::Loading(_), false) => Some("loading the text encoder"),
                    _ => None,
                };
                if let Some(doing) = doing {
                    self.error = Some(Failure::new(
                        doing,
                        "the text worker stopped",
                        "a fresh one is loading the encoder from the files already fetched: \
                         search again once it is ready",
                    ));
                    self.retry = None;
                }
                // The fresh worker is sent the load when it connects.
                if self.text != TextState::Absent {
                    self.text = TextState::Loading(None);
                }
            }
            Msg::WorkerStopped => {
                self.worker_restarts += 1;
                self.ready = false;
                self.progress = None;
                self.ensemble = None;
                if let Some(pending) = self.pending.take() {
                    self.error = Some(Failure::new(
                        pending.doing(),
                        "the search worker stopped",
                        "a fresh one has started: retry sends the request again, and the \
                         files already checked are not fetched again",
                    ));
                    self.retry = Some(Retry::Search);
                }
            }
        }
        true
    }

    fn on_text(&mut self, reply: TextReply) {
        let load = reply.seq == self.text_load_seq;
        let encode = reply.seq == self.text_encode_seq;
        match reply.body {
            TextBody::Progress(progress) if load => self.text = TextState::Loading(Some(progress)),
            TextBody::Loaded { backend, warmup_ms } if load => {
                self.text = TextState::Ready { backend, warmup_ms };
            }
            // An image query's encoder downloads on its first use.
            TextBody::Progress(progress) if encode => self.progress = Some(progress),
            TextBody::Encoded { encode_ms, .. } if encode => {
                self.encode_ms = encode_ms;
                self.end_image_encoding();
            }
            TextBody::Failed(failure) if load || encode => {
                if encode {
                    self.end_image_encoding();
                }
                if load {
                    self.text = TextState::Failed;
                    self.retry = Some(Retry::TextLoad);
                }
                self.error = Some(failure);
            }
            _ => {}
        }
    }

    fn end_image_encoding(&mut self) {
        if self.encoding_image {
            self.encoding_image = false;
            self.progress = None;
        }
    }

    fn on_reply(&mut self, body: ReplyBody) {
        let pending = match body {
            ReplyBody::Progress(progress) => {
                self.progress = Some(progress);
                return;
            }
            ReplyBody::LifelineHeld { .. } => return,
            _ => self.pending.take(),
        };
        self.progress = None;
        match (body, pending) {
            // The worker has the dataset open (again, if it restarted): the session shown
            // since `dataset.json` arrived goes on, labels and all.
            (ReplyBody::Opened { .. }, _) if !self.session.round.ids.is_empty() => {
                self.ready = true;
            }
            (ReplyBody::Opened { count, .. }, _) => {
                self.ready = true;
                self.session.apply(Action::Show {
                    query: Query::None,
                    round: Round {
                        ids: Ranked::Collection(count),
                        ..Round::default()
                    },
                });
            }
            (ReplyBody::Neighbours { ids, mut times }, Some(Pending::Knn(query))) => {
                self.network_bytes += times.network_bytes;
                if matches!(query, Query::Text(_) | Query::Image(_)) {
                    times.encode_ms = self.encode_ms;
                }
                self.session.apply(Action::Start {
                    query,
                    round: Round {
                        ids: ids.into(),
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
            (ReplyBody::Neighbours { ids, times }, Some(Pending::More(query))) => {
                self.network_bytes += times.network_bytes;
                if query == self.session.query {
                    self.session.apply(Action::More(ids));
                }
            }
            (
                ReplyBody::Results {
                    ids,
                    uncertain,
                    rules,
                    sql,
                    model,
                    times,
                },
                pending,
            ) => {
                self.network_bytes += times.network_bytes;
                let round = Round {
                    ids: ids.into(),
                    uncertain: uncertain.into(),
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
                // Ascending, as `LabelSet::iter` gives them.
                let labelled = self.session.labels.iter().map(|(id, _)| id).collect();
                self.ensemble = Some(EnsembleRound {
                    seq: self.seq,
                    started_ms,
                    plan: Rc::new(plan),
                    labelled,
                });
            }
            (ReplyBody::Failed(failure), pending) => {
                self.error = Some(failure);
                self.retry = pending.is_some().then_some(Retry::Search);
            }
            (
                ReplyBody::Neighbours { .. }
                | ReplyBody::Progress(_)
                | ReplyBody::LifelineHeld { .. }
                | ReplyBody::Plan(_)
                | ReplyBody::Part(_),
                _,
            ) => {}
        }
    }

    /// The backend shown: the text encoder's once loaded; k-NN and training run on the CPU.
    pub fn backend(&self) -> Backend {
        match self.text {
            TextState::Ready { backend, .. } => backend,
            _ => Backend::Cpu,
        }
    }

    /// The worker has the dataset open and no request in flight: searching, fine-tuning
    /// and applying a saved search are on.
    pub fn can_send(&self) -> bool {
        self.ready && self.pending.is_none()
    }

    /// The results shown, as the embedding page is told them.
    pub fn results_event(&self) -> ResultsEvent {
        let session = &self.session;
        ResultsEvent {
            query: match &session.query {
                Query::Text(text) => Some(text.clone()),
                _ => None,
            },
            like: match session.query {
                Query::Like(id) => Some(id),
                _ => None,
            },
            count: session.round.ids.len(),
            // The whole collection in id order (a dataset's first view) is said by its
            // count alone: a host is not sent an id per image.
            ids: session
                .round
                .ids
                .listed()
                .map(<[u32]>::to_vec)
                .unwrap_or_default(),
            relevant: session.labels.relevant(),
            irrelevant: session.labels.irrelevant(),
            round: session.undoable(),
            searcher: session
                .round
                .model
                .as_ref()
                .map(|m| crate::share::searcher_name(m.searcher())),
            rules: session.round.rules.clone(),
        }
    }

    /// How many neighbours "more results" asks for: the next [`FIRST_RESULTS`] of the
    /// session's query; `None` when its results are no neighbour list or hold the whole
    /// collection already.
    pub fn more_results_k(&self) -> Option<u32> {
        let count = self.dataset.as_ref()?.manifest.count;
        let shown = self.session.round.ids.len() as u64;
        (self.session.extendable() && shown < count)
            .then(|| (shown + u64::from(FIRST_RESULTS)).min(count) as u32)
    }

    /// The tiles drawn: the page shown once its captions and thumbnail names are in, so
    /// that no tile is drawn with a stand-in caption; if loading them failed (the error
    /// panel says so), the tiles show with their ids. Nothing while they load.
    pub fn grid(&self) -> Vec<u32> {
        let shown = self.session.shown();
        if self.error.is_some() || shown.iter().all(|&id| self.item(id).is_some()) {
            shown
        } else {
            Vec::new()
        }
    }

    /// Image `id`'s item, if its chunk is loaded.
    pub fn item(&self, id: u32) -> Option<&Item> {
        let (chunk, offset) = self.dataset.as_ref()?.manifest.chunk_of(u64::from(id))?;
        self.items.get(&chunk)?.get(offset)
    }

    /// The text worker's request to load the open dataset's text encoder, if it has one
    /// (sent when the text worker connects, and again by the error panel's retry).
    pub fn text_load(&self) -> Option<TextTask> {
        let dataset = self.dataset.as_ref()?;
        Some(TextTask::Load {
            base: dataset.base.clone(),
            encoder: dataset.manifest.text.clone()?,
        })
    }

    /// The search as a shared URL says it.
    pub fn shared(&self) -> SharedSearch {
        SharedSearch {
            dataset: self.dataset.as_ref().map(|d| d.name.clone()),
            query: self.session.query.clone(),
            labels: self.session.labels.clone(),
            searcher: self.settings.searcher,
            random_negatives: self.settings.random_negatives,
            negative_weight: self.settings.negative_weight,
        }
    }

    /// The next round's training request: the labels and the settings.
    pub fn search_request(&self) -> SearchRequest {
        let mut request = SearchRequest::new(self.session.labels.relevant());
        request.negatives = self.session.labels.irrelevant();
        request.random_negatives = self.settings.random_negatives;
        request.negative_weight = self.settings.negative_weight;
        request.searcher = self.settings.searcher;
        // Checked when the dataset opened (`loading`).
        if let Some(dataset) = &self.dataset {
            request.training = dataset.training().unwrap_or_default();
        }
        request
    }

    /// Why text query `text` cannot be searched, if it cannot: the open dataset has no
    /// text encoder, or it failed to load. While it loads the query waits in the text
    /// worker's queue.
    pub fn text_search_refusal(&self, text: &str) -> Option<Failure> {
        let message = match &self.text {
            TextState::Absent => format!(
                "dataset {} has no text encoder, so {text:?} cannot be searched",
                self.dataset.as_ref().map_or("", |d| d.name.as_str())
            ),
            TextState::Failed => "the text encoder failed to load".to_owned(),
            TextState::Loading(_) | TextState::Ready { .. } => return None,
        };
        Some(Failure::new(
            "text search",
            message,
            "use \"more like this\" (≈) on an image, or apply a saved search",
        ))
    }

    /// The datasets to pick from, with their image counts: the catalog's, or the one
    /// dataset folder opened without a catalog.
    pub fn dataset_choices(&self) -> Vec<(String, u64)> {
        match (&self.catalog, &self.dataset) {
            (Some(catalog), _) => catalog
                .datasets
                .iter()
                .map(|d| (d.name.clone(), d.count))
                .collect(),
            (None, Some(d)) => vec![(d.name.clone(), d.manifest.count)],
            (None, None) => Vec::new(),
        }
    }
}

/// Yew's reducer: an unchanged state keeps its `Rc`, so a dropped message re-renders nothing.
#[cfg(target_family = "wasm")]
impl yew::Reducible for State {
    type Action = Msg;

    fn reduce(self: Rc<Self>, msg: Msg) -> Rc<Self> {
        let mut next = (*self).clone();
        if next.apply(msg) { Rc::new(next) } else { self }
    }
}

#[cfg(test)]
mod tests {
    use branches::{MemoryIndex, Model, PoolSettings, SearchEngine};
    use dataset::{CatalogEntry, FileRef, Reduction, TextEncoder};
    use index_shards::TreeSetConfig;

    use super::*;
    use crate::labels::{Label, LabelSet};
    use crate::protocol::StageTimes;

    /// Ten images in chunks of four (ids 0-3, 4-7, 8-9), with a text encoder or not.
    fn dataset(base: &str, text: bool) -> Rc<OpenDataset> {
        let file = |name: &str| FileRef {
            name: name.to_owned(),
            bytes: 1,
            blake3: String::new(),
        };
        let hashes: Vec<[u8; 32]> = (0..3).map(|k| [k; 32]).collect();
        Rc::new(OpenDataset::new(
            "tiny".to_owned(),
            base.to_owned(),
            DatasetManifest {
                format_version: dataset::DATASET_FORMAT_VERSION,
                name: "tiny-manifest".to_owned(),
                description: String::new(),
                count: 10,
                dims: 4,
                index: dataset::INDEX_MANIFEST_FILE.to_owned(),
                items: dataset::items_table::table_files(&hashes, 4, 2).0,
                text: text.then(|| TextEncoder {
                    model: "test".to_owned(),
                    weights: file("text.safetensors"),
                    config: serde_json::Value::Null,
                    projection_dim: 4,
                    reduction: Reduction::Identity,
                }),
                image: None,
                full_features: None,
                search: None,
            },
        ))
    }

    fn item(caption: &str) -> Item {
        Item {
            caption: caption.to_owned(),
            thumb: format!("thumbs/{caption}.jpg"),
            source: String::new(),
            width: 1,
            height: 1,
            date_taken: None,
        }
    }

    /// A page with `tiny` open in the worker and its first `shown` ids showing.
    fn opened(text: bool) -> State {
        let mut state = State::new(None);
        assert!(state.apply(Msg::Dataset(dataset("https://x/tiny/", text))));
        state.apply(Msg::Sent(1, Pending::Open));
        state.apply(reply(
            1,
            ReplyBody::Opened {
                count: 10,
                dims: 4,
                trees: 1,
            },
        ));
        state
    }

    fn reply(seq: u32, body: ReplyBody) -> Msg {
        Msg::Reply(WorkerReply { seq, body })
    }

    fn neighbours(ids: Vec<u32>) -> ReplyBody {
        ReplyBody::Neighbours {
            ids,
            times: StageTimes::default(),
        }
    }

    fn results(ids: Vec<u32>, network_bytes: u64) -> ReplyBody {
        ReplyBody::Results {
            ids,
            uncertain: vec![9],
            rules: vec!["x0 < 3".to_owned()],
            sql: Vec::new(),
            model: Model::DBranches { boxes: Vec::new() },
            times: StageTimes {
                network_bytes,
                ..StageTimes::default()
            },
        }
    }

    /// The plan of an ensemble round over 200 made-up images of 4 dims.
    fn ensemble_plan() -> EnsemblePlan {
        let dims = 4;
        let features = (0..200 * dims).map(|k| (k * 97 % 256) as u8).collect();
        let trees = TreeSetConfig {
            leaf_size: 16,
            subsets: vec![(dims, 2)],
            ..TreeSetConfig::default()
        };
        let index = MemoryIndex::build(features, dims, &trees).expect("index");
        let engine = SearchEngine::new(index, PoolSettings::default()).expect("engine");
        let mut request = SearchRequest::new(vec![0, 1, 2]);
        request.searcher = Searcher::Ensemble;
        engine.plan_ensemble(&request).expect("plan")
    }

    fn failure() -> Failure {
        Failure::new("loading", "no answer", "try again")
    }

    #[test]
    fn the_url_search_sets_the_first_settings_and_is_wanted_once() {
        let shared = SharedSearch {
            searcher: Searcher::Ensemble,
            random_negatives: 7,
            negative_weight: 3,
            ..SharedSearch::text("cats".to_owned())
        };
        let state = State::new(Some(shared));
        assert_eq!(state.wanted, 1);
        assert_eq!(state.catalog_url, DEFAULT_CATALOG);
        assert_eq!(
            state.settings,
            Settings {
                searcher: Searcher::Ensemble,
                random_negatives: 7,
                negative_weight: 3,
            }
        );
        assert_eq!(State::new(None).wanted, 0);
    }

    #[test]
    fn an_opened_dataset_shows_every_image_unlabelled_and_allows_requests() {
        let mut state = State::new(None);
        state.apply(Msg::Dataset(dataset("https://x/tiny/", false)));
        assert!(!state.can_send(), "the worker has not opened it yet");
        state.apply(Msg::Sent(1, Pending::Open));
        state.apply(reply(
            1,
            ReplyBody::Progress(Progress {
                bytes_total: 10,
                ..Progress::default()
            }),
        ));
        assert_eq!(
            state.pending,
            Some(Pending::Open),
            "progress keeps it pending"
        );
        assert!(state.progress.is_some());
        state.apply(reply(
            1,
            ReplyBody::Opened {
                count: 10,
                dims: 4,
                trees: 1,
            },
        ));
        assert!(state.ready);
        assert!(state.can_send());
        assert_eq!(state.progress, None);
        assert_eq!(state.session.query, Query::None);
        assert_eq!(
            state.session.round.ids.iter().collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        assert!(state.session.labels.relevant().is_empty());
    }

    #[test]
    fn a_reply_to_an_older_request_is_dropped() {
        let mut state = opened(false);
        state.apply(Msg::Sent(2, Pending::FineTune));
        state.apply(Msg::Sent(3, Pending::Knn(Query::Like(4))));
        let before = state.clone();
        assert!(!state.apply(reply(2, results(vec![1, 2], 50))));
        assert_eq!(state, before);
        assert!(state.apply(reply(3, neighbours(vec![4, 5]))));
        assert_eq!(state.session.query, Query::Like(4));
        assert_eq!(state.pending, None);
    }

    #[test]
    fn text_neighbours_start_a_query_with_the_encode_time_and_the_shared_labels() {
        let mut labels = LabelSet::default();
        labels.set(5, Label::Irrelevant);
        let shared = SharedSearch {
            labels,
            ..SharedSearch::text("cats".to_owned())
        };
        let mut state = State::new(Some(shared));
        state.apply(Msg::Dataset(dataset("https://x/tiny/", true)));
        state.apply(Msg::TextSent(1, false));
        state.apply(Msg::Text(TextReply {
            seq: 1,
            body: TextBody::Encoded {
                query: vec![1, 2, 3, 4],
                encode_ms: 12.5,
            },
        }));
        state.apply(Msg::Sent(2, Pending::Knn(Query::Text("cats".to_owned()))));
        state.apply(reply(
            2,
            ReplyBody::Neighbours {
                ids: vec![4, 5, 6],
                times: StageTimes {
                    network_bytes: 100,
                    ..StageTimes::default()
                },
            },
        ));
        assert_eq!(state.session.query, Query::Text("cats".to_owned()));
        assert_eq!(state.session.round.times.encode_ms, 12.5);
        assert_eq!(state.network_bytes, 100);
        // Every result starts relevant; the shared labels then replace them.
        assert_eq!(state.session.labels.relevant(), Vec::<u32>::new());
        assert_eq!(state.session.labels.irrelevant(), [5]);
        assert_eq!(state.url_search, None, "the wanted search is consumed");
    }

    #[test]
    fn more_results_extend_the_query_they_were_asked_for() {
        let mut state = opened(false);
        assert_eq!(
            state.more_results_k(),
            None,
            "browsing is no neighbour list"
        );
        state.apply(Msg::Sent(2, Pending::Knn(Query::Like(1))));
        state.apply(reply(2, neighbours(vec![1, 2, 3])));
        // The next 60, as far as the collection's 10 images go.
        assert_eq!(state.more_results_k(), Some(10));
        state.apply(Msg::Sent(3, Pending::More(Query::Like(1))));
        state.apply(reply(3, neighbours((1..10).chain([0]).collect())));
        assert_eq!(
            state.session.round.ids.iter().collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
        );
        assert_eq!(
            state.more_results_k(),
            None,
            "the whole collection is shown"
        );
        // An answer for a query the page has left is dropped.
        state.apply(Msg::Sent(4, Pending::Knn(Query::Like(7))));
        state.apply(reply(4, neighbours(vec![7])));
        state.apply(Msg::Sent(5, Pending::More(Query::Like(1))));
        state.apply(reply(5, neighbours(vec![1, 2])));
        assert_eq!(state.session.round.ids.iter().collect::<Vec<_>>(), [7]);
        assert!(state.can_send());
    }

    #[test]
    fn a_fine_tune_round_keeps_the_labels_and_an_applied_search_starts_over() {
        let mut state = opened(false);
        state.apply(Msg::Sent(2, Pending::Knn(Query::Like(1))));
        state.apply(reply(2, neighbours(vec![1, 2, 3])));
        state.apply(Msg::Sent(3, Pending::FineTune));
        state.apply(reply(3, results(vec![1, 7, 8], 40)));
        assert_eq!(
            state.session.round.ids.iter().collect::<Vec<_>>(),
            [1, 7, 8]
        );
        assert_eq!(state.session.round.rules, ["x0 < 3"]);
        assert_eq!(state.session.labels.relevant(), [1, 2, 3]);
        assert_eq!(state.session.undoable(), 1);
        assert_eq!(state.network_bytes, 40);

        state.apply(Msg::Sent(4, Pending::Apply));
        state.apply(reply(4, results(vec![9], 2)));
        assert_eq!(state.session.query, Query::Saved);
        assert!(state.session.labels.relevant().is_empty());
        assert_eq!(state.session.undoable(), 0);
        assert_eq!(state.network_bytes, 42);
    }

    #[test]
    fn a_failed_request_ends_it_and_shows_the_error_until_dismissed() {
        let mut state = opened(false);
        state.apply(Msg::Sent(2, Pending::FineTune));
        state.apply(reply(2, ReplyBody::Failed(failure())));
        assert_eq!(state.error, Some(failure()));
        assert!(state.can_send(), "never left on 'working…'");
        assert_eq!(
            state.retry,
            Some(Retry::Search),
            "the failed request can be sent again"
        );
        state.apply(Msg::DismissError);
        assert_eq!((&state.error, state.retry), (&None, None));
        // Sent again, it is no longer offered; a refusal that sent nothing offers none.
        state.apply(Msg::Sent(3, Pending::FineTune));
        state.apply(reply(3, ReplyBody::Failed(failure())));
        state.apply(Msg::Sent(4, Pending::FineTune));
        assert_eq!(state.retry, None);
        state.apply(Msg::Error(failure()));
        assert_eq!(state.retry, None);
    }

    #[test]
    fn a_stopped_text_worker_loads_again_and_a_lost_encode_is_said() {
        let mut state = opened(true);
        let loaded = |state: &mut State, seq| {
            state.apply(Msg::TextSent(seq, true));
            state.apply(Msg::Text(TextReply {
                seq,
                body: TextBody::Loaded {
                    backend: Backend::Cpu,
                    warmup_ms: 1.0,
                },
            }));
            assert!(matches!(state.text, TextState::Ready { .. }));
        };
        loaded(&mut state, 2);
        // Idle: the fresh worker loads the encoder again, and nothing failed.
        state.apply(Msg::TextWorkerStopped { encoding: false });
        assert_eq!(state.text_restarts, 1);
        assert_eq!(state.text, TextState::Loading(None));
        assert_eq!(state.error, None);
        // Stopped while loading or encoding: the error panel says what was lost.
        state.apply(Msg::TextWorkerStopped { encoding: false });
        assert_eq!(state.error.take().unwrap().what, "loading the text encoder");
        loaded(&mut state, 3);
        state.apply(Msg::TextSent(4, false));
        state.apply(Msg::TextWorkerStopped { encoding: true });
        let error = state.error.clone().unwrap();
        assert_eq!(
            (error.what.as_str(), error.message.as_str()),
            ("encoding the query", "the text worker stopped")
        );
        assert_eq!((state.text_restarts, state.retry), (3, None));
    }

    #[test]
    fn a_stopped_worker_ends_the_request_offers_retry_and_reopens_keeping_the_session() {
        let mut state = opened(false);
        state.apply(Msg::Sent(2, Pending::Knn(Query::Like(1))));
        state.apply(reply(2, neighbours(vec![1, 2, 3])));
        state.apply(Msg::Session(Action::Click {
            id: 2,
            shift: false,
        }));
        state.apply(Msg::Sent(3, Pending::FineTune));
        state.apply(Msg::WorkerStopped);
        assert_eq!(state.worker_restarts, 1);
        assert_eq!(state.pending, None, "never left on 'working…'");
        assert!(!state.ready, "until the fresh worker has the dataset open");
        let error = state.error.clone().expect("the error panel says so");
        assert_eq!(
            (error.what.as_str(), error.message.as_str()),
            ("the fine-tune round", "the search worker stopped")
        );
        assert_eq!(state.retry, Some(Retry::Search));
        // The fresh worker reopens the dataset: the session and the retry stay.
        state.apply(Msg::Sent(4, Pending::Reopen));
        assert_eq!(state.retry, Some(Retry::Search));
        state.apply(reply(
            4,
            ReplyBody::Opened {
                count: 10,
                dims: 4,
                trees: 1,
            },
        ));
        assert!(state.can_send());
        assert_eq!(
            state.session.round.ids.iter().collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(state.session.labels.irrelevant(), [2]);
        assert_eq!(state.retry, Some(Retry::Search));
        // A worker that stops while idle is only restarted.
        state.apply(Msg::DismissError);
        state.apply(Msg::WorkerStopped);
        assert_eq!((state.worker_restarts, &state.error), (2, &None));
    }

    #[test]
    fn opening_another_dataset_starts_over_and_drops_the_old_ones_chunks() {
        let mut state = opened(false);
        state.apply(Msg::Items {
            base: "https://x/tiny/".to_owned(),
            chunk: 0,
            items: Rc::new(vec![item("a"); 4]),
        });
        assert_eq!(state.item(2).map(|i| i.caption.as_str()), Some("a"));

        state.apply(Msg::Dataset(dataset("https://x/other/", true)));
        assert!(!state.ready);
        assert!(state.items.is_empty());
        // The new collection shows before its index is open, and a label set meanwhile
        // stays when it opens.
        assert_eq!(
            state.session.round.ids.iter().collect::<Vec<_>>(),
            (0..10).collect::<Vec<u32>>()
        );
        state.apply(Msg::Session(Action::Click {
            id: 3,
            shift: false,
        }));
        state.apply(Msg::Sent(7, Pending::Open));
        state.apply(reply(
            7,
            ReplyBody::Opened {
                count: 10,
                dims: 4,
                trees: 1,
            },
        ));
        assert!(state.ready);
        assert_eq!(state.session.labels.relevant(), [3]);
        assert_eq!(state.session.round.ids.len(), 10);
        assert_eq!(state.text, TextState::Loading(None));
        assert!(!state.apply(Msg::Items {
            base: "https://x/tiny/".to_owned(),
            chunk: 1,
            items: Rc::new(vec![item("b"); 4]),
        }));
        assert!(state.items.is_empty());
    }

    #[test]
    fn the_grid_waits_for_its_captions_unless_loading_them_failed() {
        let mut state = opened(false);
        // The first page shows ids 0-9: chunks 0, 1 and 2.
        assert_eq!(state.grid(), &[] as &[u32]);
        for (chunk, len) in [(0, 4), (1, 4)] {
            state.apply(Msg::Items {
                base: "https://x/tiny/".to_owned(),
                chunk,
                items: Rc::new(vec![item("c"); len]),
            });
        }
        assert_eq!(state.grid(), &[] as &[u32], "chunk 2 is still missing");
        state.apply(Msg::Error(failure()));
        assert_eq!(state.grid().len(), 10);
        state.apply(Msg::DismissError);
        state.apply(Msg::Items {
            base: "https://x/tiny/".to_owned(),
            chunk: 2,
            items: Rc::new(vec![item("c"); 2]),
        });
        assert_eq!(state.grid(), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn the_text_encoder_loads_fails_and_sets_the_backend() {
        let mut state = opened(true);
        assert_eq!(state.text, TextState::Loading(None));
        state.apply(Msg::TextSent(5, true));
        state.apply(Msg::Text(TextReply {
            seq: 5,
            body: TextBody::Progress(Progress::default()),
        }));
        assert_eq!(state.text, TextState::Loading(Some(Progress::default())));
        assert_eq!(state.backend(), Backend::Cpu);
        state.apply(Msg::Text(TextReply {
            seq: 5,
            body: TextBody::Loaded {
                backend: Backend::Webgpu,
                warmup_ms: 3.0,
            },
        }));
        assert_eq!(state.backend(), Backend::Webgpu);
        assert_eq!(state.text_search_refusal("cats"), None);

        // A failure of an older load is not this one's.
        state.apply(Msg::Text(TextReply {
            seq: 4,
            body: TextBody::Failed(failure()),
        }));
        assert_eq!(state.error, None);
        state.apply(Msg::TextSent(6, true));
        state.apply(Msg::Text(TextReply {
            seq: 6,
            body: TextBody::Failed(failure()),
        }));
        assert_eq!(state.text, TextState::Failed);
        assert_eq!(state.error, Some(failure()));
        assert_eq!(state.retry, Some(Retry::TextLoad));
        assert_eq!(
            state.text_search_refusal("cats").map(|f| f.message),
            Some("the text encoder failed to load".to_owned())
        );
    }

    #[test]
    fn text_search_is_refused_without_a_text_encoder() {
        let state = opened(false);
        let refusal = state.text_search_refusal("cats").expect("refused");
        assert_eq!(refusal.what, "text search");
        assert_eq!(
            refusal.message,
            "dataset tiny has no text encoder, so \"cats\" cannot be searched"
        );
    }

    #[test]
    fn an_ensemble_plan_waits_for_its_members() {
        let mut state = opened(false);
        state.apply(Msg::Sent(2, Pending::Plan(10.0)));
        let plan = ensemble_plan();
        state.apply(reply(2, ReplyBody::Plan(plan.clone())));
        assert_eq!(state.pending, Some(Pending::Members));
        assert!(!state.can_send());
        let round = state.ensemble.as_ref().expect("a round");
        assert_eq!((round.seq, round.started_ms), (2, 10.0));
        assert_eq!(*round.plan, plan);
    }

    #[test]
    fn the_round_request_carries_the_labels_and_settings() {
        let mut state = opened(false);
        state.apply(Msg::Session(Action::Start {
            query: Query::Like(0),
            round: Round {
                ids: vec![0, 1, 2].into(),
                ..Round::default()
            },
        }));
        state.apply(Msg::Session(Action::Click {
            id: 1,
            shift: false,
        }));
        let settings = Settings {
            searcher: Searcher::RandomForest,
            random_negatives: 9,
            negative_weight: 4,
        };
        state.apply(Msg::Settings(settings));
        let request = state.search_request();
        assert_eq!(request.positives, [0, 2]);
        assert_eq!(request.negatives, [1]);
        assert_eq!(request.searcher, Searcher::RandomForest);
        assert_eq!((request.random_negatives, request.negative_weight), (9, 4));
        assert_eq!(state.shared().searcher, Searcher::RandomForest);
    }

    #[test]
    fn a_datasets_search_settings_give_the_searchers_defaults_and_training() {
        let mut tuned = dataset("https://x/tuned/", false);
        Rc::get_mut(&mut tuned).unwrap().manifest.search = Some(
            SearchSettings::from_json(
                r#"{"searchers": ["ens", "dtree"], "random_negatives": {"min": 0, "max": 200, "default": 50},
                    "negative_weight": {"min": 1, "max": 10, "default": 3}, "training": {"ensemble_models": 5}}"#,
            )
            .unwrap(),
        );
        assert_eq!(
            tuned.searchers(),
            [Searcher::Ensemble, Searcher::DecisionTree]
        );
        // A plain page: the dataset's defaults.
        let mut state = State::new(None);
        state.apply(Msg::Dataset(tuned.clone()));
        assert_eq!(
            state.settings,
            Settings {
                searcher: Searcher::Ensemble,
                random_negatives: 50,
                negative_weight: 3,
            }
        );
        let request = state.search_request();
        assert_eq!(request.training.ensemble_models, 5);
        // A shared URL's settings stay where the dataset allows them.
        let shared = SharedSearch {
            searcher: Searcher::DecisionTree,
            random_negatives: 700,
            negative_weight: 2,
            ..SharedSearch::default()
        };
        let mut state = State::new(Some(shared));
        state.apply(Msg::Dataset(tuned.clone()));
        assert_eq!(
            state.settings,
            Settings {
                searcher: Searcher::DecisionTree,
                random_negatives: 200,
                negative_weight: 2,
            }
        );
        // Not offered: the dataset's default searcher.
        state.settings.searcher = Searcher::RandomForest;
        let app = Settings::starting(&SearchSettings::default());
        assert_eq!(
            tuned.settings_from(state.settings, app).searcher,
            Searcher::Ensemble
        );
        // On to a dataset without settings: what was the tuned one's default is the app's.
        let plain = dataset("https://x/tiny/", false);
        let mut state = State::new(None);
        state.apply(Msg::Dataset(tuned.clone()));
        state.settings.negative_weight = 7;
        state.apply(Msg::Dataset(plain.clone()));
        assert_eq!(
            state.settings,
            Settings {
                searcher: Searcher::DBranches,
                random_negatives: 500,
                negative_weight: 7,
            }
        );
        assert_eq!(plain.searchers().len(), 4);
        assert_eq!(plain.training().unwrap(), TrainingSettings::default());
        let mut bad = dataset("https://x/bad/", false);
        let mut search = SearchSettings::default();
        search
            .training
            .insert("ensemble_model".to_owned(), 5.into());
        Rc::get_mut(&mut bad).unwrap().manifest.search = Some(search);
        let error = bad.training().unwrap_err().to_string();
        assert!(error.contains("ensemble_model"), "{error}");
    }

    #[test]
    fn the_choices_are_the_catalogs_or_the_one_folder_and_chunks_are_sorted_once() {
        let mut state = opened(false);
        assert_eq!(state.dataset_choices(), [("tiny".to_owned(), 10)]);
        let entry = |name: &str| CatalogEntry {
            name: name.to_owned(),
            description: String::new(),
            count: 3,
            bytes: 0,
            path: name.to_owned(),
        };
        state.apply(Msg::Catalog(
            "c.json".to_owned(),
            Rc::new(Catalog {
                datasets: vec![entry("a"), entry("b")],
            }),
        ));
        assert_eq!(state.catalog_url, "c.json");
        assert_eq!(
            state.dataset_choices(),
            [("a".to_owned(), 3), ("b".to_owned(), 3)]
        );
        let open = dataset("https://x/tiny/", false);
        assert_eq!(open.chunks_of([9, 0, 5, 1, 42]), [0, 1, 2]);
    }
}
