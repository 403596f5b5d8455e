//! The search worker: a yew-agent reactor that owns the dataset index, fetches the shards
//! each step needs (checked, cached, with progress), and runs k-NN, training and search
//! by classification off the main thread.
//!
//! The worker fetches shards itself rather than being sent them: which leaf shards a
//! round needs is known only after training, here, and the bytes never cross threads.

use branches::{Model, SearchRequest};
use futures::{SinkExt, StreamExt};
use index_shards::StoredFile;
use yew_agent::Registrable;
use yew_agent::reactor::{ReactorScope, reactor};

use crate::codec::SerdeWasm;
use crate::index::{DatasetIndex, StepError};
use crate::net::{self, FileCache};
use crate::protocol::{Failure, Progress, ReplyBody, StageTimes, Task, WorkerReply, WorkerRequest};
use crate::reads::{Read, plan_reads};
use crate::session::FIRST_RESULTS;

/// Shard fetches in flight at once.
const PARALLEL_FETCHES: usize = 6;
/// A load reports its progress to the page at most this often (and at its last file): a
/// round of 3,200 leaf files re-rendered the page once per file, on the cores its
/// downloads need.
const PROGRESS_INTERVAL_MS: f64 = 100.0;

type Scope = ReactorScope<WorkerRequest, WorkerReply>;

/// Registers the reactor in the worker's global scope (the worker binary's `main`).
pub fn register() {
    net::close_on_panic("search worker");
    SearchWorker::registrar().encoding::<SerdeWasm>().register();
}

/// The open dataset.
struct Open {
    base: String,
    index: DatasetIndex,
    /// Whether its host answers range requests, once a load has asked.
    ranges: Option<bool>,
}

/// What a read fetched.
enum Fetched {
    /// A whole file, through the store ([`FileCache::fetch`]).
    File((Vec<u8>, net::Source)),
    /// The answer to a range request.
    Range(net::Ranged),
}

/// Which fetched files a load keeps in the Cache API store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// Every file: what opening a dataset reads, and any file of a small dataset.
    Always,
    /// A file of a query (leaves, k-NN lists, row blocks) only when the dataset is small
    /// ([`KEEP_EVERY_FILE_MAX_IMAGES`]); a bigger one's are left to the HTTP cache.
    IfSmall,
}

/// A dataset of at most this many images keeps every file it fetches, so that it works
/// offline once its files were read (about 50 MB at the default index's 1,038 bytes an
/// image). A bigger one keeps what opening it reads: storing each file of a query took a
/// quarter of a 10M-image ensemble round (3,209 leaf files, 306 MB: 17.3 s of fetching
/// against 12.7-13.0 s), and would grow the store by that much a round.
const KEEP_EVERY_FILE_MAX_IMAGES: u32 = 50_000;

/// What the worker holds between requests.
struct State {
    cache: FileCache,
    open: Option<Open>,
}

fn no_dataset() -> Failure {
    Failure::new("searching", "no dataset is open", "pick a dataset first")
}

const HINT_DAMAGED: &str = "the file on the server does not match the dataset's manifest: \
    rebuild or re-upload the dataset; files that did load keep working";
const HINT_OTHER_DATASET: &str =
    "a saved search applies only to a dataset indexed with the same feature subsets";
const HINT_NETWORK: &str =
    "check the connection and that the dataset folder is served, then try again";

/// The search worker's reactor.
#[reactor(SearchWorker)]
pub async fn search_worker(mut scope: Scope) {
    let mut state = State {
        cache: FileCache::open().await,
        open: None,
    };
    while let Some(WorkerRequest { seq, task }) = scope.next().await {
        let body = match state.handle(seq, task, &mut scope).await {
            Ok(body) => body,
            Err(failure) => ReplyBody::Failed(failure),
        };
        if scope.send(WorkerReply { seq, body }).await.is_err() {
            break;
        }
    }
}

impl State {
    fn open(&self) -> Result<&Open, Failure> {
        self.open.as_ref().ok_or_else(no_dataset)
    }

    async fn handle(
        &mut self,
        seq: u32,
        task: Task,
        scope: &mut Scope,
    ) -> Result<ReplyBody, Failure> {
        match task {
            Task::HoldLifeline { lock } => {
                net::hold_lock(&lock).await.map_err(|e| {
                    Failure::new(
                        "watching the search worker",
                        e,
                        "a worker that stops will not be restarted: reload the page then",
                    )
                })?;
                Ok(ReplyBody::LifelineHeld { lock })
            }
            Task::Open {
                base,
                index: manifest_name,
            } => {
                self.open = None;
                let url = format!("{base}{manifest_name}");
                let bytes = net::fetch_bytes(&url)
                    .await
                    .map_err(|e| Failure::new("loading the index manifest", e, HINT_NETWORK))?;
                let index = DatasetIndex::from_manifest_json(&bytes)
                    .map_err(|e| Failure::new("reading the index manifest", e, HINT_DAMAGED))?;
                let mut open = Open {
                    base,
                    index,
                    ranges: None,
                };
                let needed = open.index.missing_to_open();
                let what = if open.index.is_partitioned() {
                    "k-NN centroids"
                } else {
                    "features"
                };
                self.load(&mut open, seq, what, needed, Keep::Always, scope)
                    .await?;
                let body = ReplyBody::Opened {
                    count: open.index.count(),
                    dims: open.index.dims() as u32,
                    trees: open.index.trees() as u32,
                };
                self.open = Some(open);
                Ok(body)
            }
            Task::MoreLikeThis { id, k } => {
                let doing = format!("more like image {id}");
                let failed = |e: StepError| Failure::new(doing.clone(), e, "pick another image");
                let start = net::now_ms();
                let mut network_bytes = self
                    .load_layers(
                        seq,
                        "features",
                        scope,
                        |index| index.missing_for_rows(&[id]),
                        failed,
                    )
                    .await?;
                let query = self
                    .open()?
                    .index
                    .row(id)
                    .map_err(|e| failed(e.into()))?
                    .to_vec();
                network_bytes += self.load_for_nearest(seq, &query, k, scope).await?;
                let fetch_ms = net::now_ms() - start;
                let start = net::now_ms();
                let ids = self.open()?.index.more_like(id, k).map_err(failed)?;
                let times = StageTimes {
                    fetch_ms,
                    knn_ms: net::now_ms() - start,
                    network_bytes,
                    ..StageTimes::default()
                };
                Ok(ReplyBody::Neighbours { ids, times })
            }
            Task::Nearest { query, k } => {
                let start = net::now_ms();
                let network_bytes = self.load_for_nearest(seq, &query, k, scope).await?;
                let fetch_ms = net::now_ms() - start;
                let start = net::now_ms();
                let ids = self.open()?.index.nearest(&query, k).map_err(|e| {
                    Failure::new(
                        "nearest images",
                        e,
                        "the text encoder does not fit this dataset's index",
                    )
                })?;
                let times = StageTimes {
                    fetch_ms,
                    knn_ms: net::now_ms() - start,
                    network_bytes,
                    ..StageTimes::default()
                };
                Ok(ReplyBody::Neighbours { ids, times })
            }
            Task::FineTune { request } => {
                self.load_for_training(seq, &request, scope).await?;
                let start = net::now_ms();
                let model = self.open()?.index.train(&request).map_err(|e| {
                    Failure::new("training", e, "label at least one image relevant")
                })?;
                let train_ms = net::now_ms() - start;
                let mut labelled = [request.positives, request.negatives].concat();
                labelled.sort_unstable();
                self.search(seq, model, train_ms, labelled, scope).await
            }
            Task::Apply { model } => self.search(seq, model, 0.0, Vec::new(), scope).await,
            Task::PlanEnsemble { request } => {
                self.load_for_training(seq, &request, scope).await?;
                let plan = self.open()?.index.plan_ensemble(&request).map_err(|e| {
                    Failure::new("training", e, "label at least one image relevant")
                })?;
                Ok(ReplyBody::Plan(plan))
            }
            Task::TrainMembers { plan, members } => {
                let part = plan
                    .train_members(members)
                    .map_err(|e| Failure::new("training ensemble members", e, "try again"))?;
                Ok(ReplyBody::Part(part))
            }
            Task::Join {
                plan,
                parts,
                train_ms,
                labelled,
            } => {
                let model = plan
                    .join(parts)
                    .map_err(|e| Failure::new("joining the ensemble", e, "try again"))?;
                self.search(seq, model, train_ms, labelled, scope).await
            }
        }
    }

    /// Loads the shards `model` needs, then searches with it and picks the least sure
    /// images that are not `labelled` (sorted).
    async fn search(
        &mut self,
        seq: u32,
        model: Model,
        train_ms: f64,
        labelled: Vec<u32>,
        scope: &mut Scope,
    ) -> Result<ReplyBody, Failure> {
        let mut open = self.open.take().ok_or_else(no_dataset)?;
        let fetched = self.load_for(&mut open, seq, &model, scope).await;
        self.open = Some(open);
        let (mut fetch_ms, mut network_bytes) = fetched?;
        let start = net::now_ms();
        network_bytes += self
            .load_layers(
                seq,
                "rows of the results",
                scope,
                |index| index.missing_for_search(&model),
                |e| Failure::new("planning the search", e, HINT_OTHER_DATASET),
            )
            .await?;
        fetch_ms += net::now_ms() - start;
        let start = net::now_ms();
        let (ids, uncertain) = self
            .open()?
            .index
            .search_and_uncertain(&model, FIRST_RESULTS as usize, &labelled)
            .map_err(|e| Failure::new("searching", e, HINT_OTHER_DATASET))?;
        let times = StageTimes {
            fetch_ms,
            train_ms,
            search_ms: net::now_ms() - start,
            network_bytes,
            ..StageTimes::default()
        };
        Ok(ReplyBody::Results {
            ids,
            uncertain,
            rules: model.rules(),
            sql: model.sql(),
            model,
            times,
        })
    }

    /// Fetches `files` into the open dataset, as [`Self::load`]; what loaded stays loaded
    /// when one fails.
    async fn load_open(
        &mut self,
        seq: u32,
        what: &str,
        files: Vec<StoredFile>,
        keep: Keep,
        scope: &mut Scope,
    ) -> Result<u64, Failure> {
        let mut open = self.open.take().ok_or_else(no_dataset)?;
        let loaded = self.load(&mut open, seq, what, files, keep, scope).await;
        self.open = Some(open);
        loaded
    }

    /// Fetches what the `k` nearest of `query` read: every feature shard, or the probed
    /// lists of a partitioned index, a batch at a time until the probe is complete.
    async fn load_for_nearest(
        &mut self,
        seq: u32,
        query: &[u8],
        k: u32,
        scope: &mut Scope,
    ) -> Result<u64, Failure> {
        let mut network = 0;
        loop {
            let index = &self.open()?.index;
            let needed = index.missing_for_nearest(query, k).map_err(|e| {
                Failure::new(
                    "nearest images",
                    e,
                    "the text encoder does not fit this dataset's index",
                )
            })?;
            if needed.is_empty() {
                return Ok(network);
            }
            let (what, keep) = if index.is_partitioned() {
                ("k-NN lists", Keep::IfSmall)
            } else {
                ("features", Keep::Always)
            };
            network += self.load_open(seq, what, needed, keep, scope).await?;
        }
    }

    /// Fetches what `missing` names until it names nothing: rows come in layers (a
    /// table, its pages, then blocks), each named by the one before. Returns the bytes
    /// that came from the network.
    async fn load_layers(
        &mut self,
        seq: u32,
        what: &str,
        scope: &mut Scope,
        missing: impl Fn(&DatasetIndex) -> Result<Vec<StoredFile>, StepError>,
        failed: impl Fn(StepError) -> Failure,
    ) -> Result<u64, Failure> {
        let mut network = 0;
        // The pool or the leaves, then the row blocks' three layers.
        for _ in 0..4 {
            let needed = missing(&self.open()?.index).map_err(&failed)?;
            if needed.is_empty() {
                return Ok(network);
            }
            network += self
                .load_open(seq, what, needed, Keep::IfSmall, scope)
                .await?;
        }
        Err(failed(StepError::RowsIncomplete))
    }

    /// Fetches what training on `request` reads: the labelled rows and the pool of
    /// random negatives, or every feature shard of an index without row blocks.
    async fn load_for_training(
        &mut self,
        seq: u32,
        request: &SearchRequest,
        scope: &mut Scope,
    ) -> Result<u64, Failure> {
        self.load_layers(
            seq,
            "training rows",
            scope,
            |index| index.missing_for_training(request),
            |e| Failure::new("training", e, "label at least one image relevant"),
        )
        .await
    }

    /// Fetches the tree tops and the leaves `model` reaches; returns the fetch time and
    /// the bytes that came from the network.
    async fn load_for(
        &self,
        open: &mut Open,
        seq: u32,
        model: &Model,
        scope: &mut Scope,
    ) -> Result<(f64, u64), Failure> {
        let start = net::now_ms();
        let mut network = 0;
        if !model.boxes().is_empty() {
            let tops = open.index.missing_top_files(model);
            network += self
                .load(open, seq, "tree tops", tops, Keep::Always, scope)
                .await?;
            let leaves = open
                .index
                .missing_leaf_files(model)
                .map_err(|e| Failure::new("planning the search", e, HINT_OTHER_DATASET))?;
            network += self
                .load(open, seq, "leaves", leaves, Keep::IfSmall, scope)
                .await?;
        }
        Ok((net::now_ms() - start, network))
    }

    /// Fetches `files` (cache first, several at a time), checks and adds each, and
    /// streams progress; returns the bytes that came from the network. Leaf files of a
    /// dataset that keeps every file come in whole packs, into the store; those of a larger
    /// one in runs, by range requests, unless its host answered one with a whole file.
    async fn load(
        &self,
        open: &mut Open,
        seq: u32,
        what: &str,
        files: Vec<StoredFile>,
        keep: Keep,
        scope: &mut Scope,
    ) -> Result<u64, Failure> {
        if files.is_empty() {
            return Ok(0);
        }
        let progress = Progress {
            what: what.to_owned(),
            files_total: files.len() as u32,
            bytes_total: files.iter().map(|f| f.bytes).sum(),
            ..Progress::default()
        };
        let keeps_every_file =
            keep == Keep::Always || open.index.count() <= KEEP_EVERY_FILE_MAX_IMAGES;
        let cache = if keeps_every_file {
            self.cache.clone()
        } else {
            self.cache.http_cache_only()
        };
        let by_range = !keeps_every_file && open.ranges != Some(false);
        let mut reads = plan_reads(files, by_range);
        let mut loading = Loading {
            progress,
            started_ms: net::now_ms(),
            reported_ms: f64::NEG_INFINITY,
        };
        let mut network = 0;
        if by_range
            && open.ranges.is_none()
            && let Some(first) = reads.iter().position(|read| read.range.is_some())
        {
            // The first range request alone: a host that ignores ranges answers with the
            // whole pack, and the other packs are then asked for once each, not once a run.
            let first = reads.swap_remove(first);
            network += self
                .run_reads(open, seq, vec![first], &cache, &mut loading, scope)
                .await?;
            if open.ranges == Some(false) {
                reads = plan_reads(reads.into_iter().flat_map(|r| r.files).collect(), false);
            }
        }
        network += self
            .run_reads(open, seq, reads, &cache, &mut loading, scope)
            .await?;
        Ok(network)
    }

    /// Runs `reads` (several at a time), checks and adds their files, and streams progress;
    /// returns the bytes that came from the network.
    async fn run_reads(
        &self,
        open: &mut Open,
        seq: u32,
        reads: Vec<Read>,
        cache: &FileCache,
        loading: &mut Loading,
        scope: &mut Scope,
    ) -> Result<u64, Failure> {
        let base = open.base.clone();
        let mut fetches = futures::stream::iter(reads.into_iter().map(|read| {
            let url = format!("{base}{}", read.stored_in);
            let cache = cache.clone();
            async move {
                let fetched = match read.range {
                    None => cache.fetch(&url).await.map(Fetched::File),
                    Some((start, end)) => {
                        net::fetch_range(&url, start, end).await.map(Fetched::Range)
                    }
                };
                (read, url, fetched)
            }
        }))
        .buffer_unordered(PARALLEL_FETCHES);
        let mut network = 0;
        while let Some((read, url, fetched)) = fetches.next().await {
            let what = read.describe();
            let fetched = fetched.map_err(|e| Failure::new(what.clone(), e, HINT_NETWORK))?;
            // Each file of the read, from `stored` (the bytes of `read.stored_in` from
            // byte `from` on).
            let add = |index: &mut DatasetIndex, stored: &[u8], from: u64| {
                read.files
                    .iter()
                    .try_for_each(|file| index.add_file(&file.name, file.slice_of(stored, from)?))
            };
            network += match fetched {
                Fetched::File(fetched) => {
                    cache
                        .check_fetched(&url, fetched, |bytes| add(&mut open.index, bytes, 0))
                        .await
                        .map_err(|e| e.into_failure(what, HINT_NETWORK, HINT_DAMAGED))?
                        .network_bytes
                }
                Fetched::Range(answer) => {
                    let (bytes, from) = match answer {
                        net::Ranged::Part(bytes) => {
                            open.ranges = Some(true);
                            (bytes, read.range.map_or(0, |(start, _)| start))
                        }
                        net::Ranged::Whole(bytes) => {
                            open.ranges = Some(false);
                            (bytes, 0)
                        }
                    };
                    add(&mut open.index, &bytes, from)
                        .map_err(|e| Failure::new(what, e, HINT_DAMAGED))?;
                    bytes.len() as u64
                }
            };
            loading.progress.files_done += read.files.len() as u32;
            loading.progress.bytes_done += read.files.iter().map(|f| f.bytes).sum::<u64>();
            let now_ms = net::now_ms();
            loading.progress.elapsed_ms = now_ms - loading.started_ms;
            if loading.progress.files_done < loading.progress.files_total
                && now_ms - loading.reported_ms < PROGRESS_INTERVAL_MS
            {
                continue;
            }
            loading.reported_ms = now_ms;
            let reply = WorkerReply {
                seq,
                body: ReplyBody::Progress(loading.progress.clone()),
            };
            if scope.send(reply).await.is_err() {
                break;
            }
        }
        Ok(network)
    }
}

/// A load's progress, across its requests.
struct Loading {
    progress: Progress,
    started_ms: f64,
    reported_ms: f64,
}
