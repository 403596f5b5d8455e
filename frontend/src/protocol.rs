//! The typed messages between the app (main thread) and the search worker. Each request
//! is answered by zero or more [`ReplyBody::Progress`] and then one final reply: the
//! result or a [`Failure`]. Replies carry the request's `seq`, so the app drops answers
//! to requests it has moved past (a new query, another dataset).

use std::ops::Range;

use branches::{EnsemblePart, EnsemblePlan, Model, SearchRequest};
use dataset::{ImageEncoder, TextEncoder};
use serde::{Deserialize, Serialize};

/// A request from the app to the search worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerRequest {
    /// Sequence number, echoed in every reply.
    pub seq: u32,
    /// What to do.
    pub task: Task,
}

/// The `seq` of [`Task::HoldLifeline`] and of its reply: outside the page's numbering of
/// requests (which starts at 1), so the page's state never waits for it.
pub const LIFELINE_SEQ: u32 = 0;

/// What the app asks the worker to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Task {
    /// Hold the Web Lock `lock` for as long as the worker lives, answered by
    /// [`ReplyBody::LifelineHeld`] once held. The page then asks for the same lock, which it
    /// gets only when the worker has ended (closed, terminated, or crashed: a panic closes
    /// it), and starts a fresh worker.
    HoldLifeline {
        /// The lock's name, unique to this worker.
        lock: String,
    },
    /// Open the dataset whose folder is at `base` (absolute URL ending in `/`): fetch its
    /// index manifest and feature shards (what k-NN needs), checked and cached.
    Open {
        /// The dataset folder's URL.
        base: String,
        /// The index manifest's name in it, as the `dataset.json` the page opened names
        /// it: the two are one version of the dataset even while a rebuild replaces it.
        index: String,
    },
    /// The `k` images nearest to the stored feature of image `id` ("more like this").
    MoreLikeThis {
        /// The image whose feature is the query.
        id: u32,
        /// How many neighbours.
        k: u32,
    },
    /// The `k` images nearest to an encoded text query (the text worker's output).
    Nearest {
        /// The query on the index's `u8` grid.
        query: Vec<u8>,
        /// How many neighbours.
        k: u32,
    },
    /// Train the request's searcher on its labels, then search by classification.
    FineTune {
        /// Labels and settings of the round.
        request: SearchRequest,
    },
    /// Search by classification with a saved model.
    Apply {
        /// The model (a saved search).
        model: Model,
    },
    /// Take the request's ensemble round apart (training set and member seeds), so that
    /// several workers train its members: answered by [`ReplyBody::Plan`].
    PlanEnsemble {
        /// Labels and settings of the round.
        request: SearchRequest,
    },
    /// Train members `members` of `plan` (any worker: no dataset needed): answered by
    /// [`ReplyBody::Part`].
    TrainMembers {
        /// The round.
        plan: EnsemblePlan,
        /// The members this worker trains.
        members: Range<u32>,
    },
    /// Join the parts of `plan` into its ensemble (the model one worker would train),
    /// then search by classification with it, as [`Task::FineTune`].
    Join {
        /// The round.
        plan: EnsemblePlan,
        /// Every member's boxes, in parts.
        parts: Vec<EnsemblePart>,
        /// The wall time from the plan's request to the last part, in milliseconds.
        train_ms: f64,
        /// The images labelled when the round was asked for, sorted: left out of the
        /// least sure.
        labelled: Vec<u32>,
    },
}

/// A reply from the worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerReply {
    /// The `seq` of the request answered.
    pub seq: u32,
    /// The answer.
    pub body: ReplyBody,
}

/// What the worker answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ReplyBody {
    /// Files fetched so far for the request.
    Progress(Progress),
    /// The worker holds its lifeline ([`Task::HoldLifeline`]).
    LifelineHeld {
        /// The lock's name.
        lock: String,
    },
    /// The dataset is open: k-NN works from now on.
    Opened {
        /// Images in the index.
        count: u32,
        /// Feature dims.
        dims: u32,
        /// Trees (feature subsets) of the index.
        trees: u32,
    },
    /// Nearest neighbours, nearest first (ties by id).
    Neighbours {
        /// The ids.
        ids: Vec<u32>,
        /// Where the time went.
        times: StageTimes,
    },
    /// Every image the model accepts, likeliest first (`branches::SearchEngine::search`).
    Results {
        /// All accepted ids (no cap).
        ids: Vec<u32>,
        /// The unlabelled images the model is least sure about, least sure first, at most
        /// [`crate::session::FIRST_RESULTS`] (`branches::SearchEngine::search_and_uncertain`).
        uncertain: Vec<u32>,
        /// Boxes as readable rules (empty for the baselines).
        rules: Vec<String>,
        /// Boxes as SQL (empty for the baselines).
        sql: Vec<String>,
        /// The trained model, to save as a search.
        model: Model,
        /// Where the time went.
        times: StageTimes,
    },
    /// An ensemble round taken apart ([`Task::PlanEnsemble`]).
    Plan(EnsemblePlan),
    /// Members trained ([`Task::TrainMembers`]).
    Part(EnsemblePart),
    /// The request failed; the worker keeps what it had loaded.
    Failed(Failure),
}

/// A request from the app to the text worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextRequest {
    /// Sequence number, echoed in every reply.
    pub seq: u32,
    /// What to do.
    pub task: TextTask,
}

/// What the app asks the text worker to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TextTask {
    /// Hold the Web Lock `lock` for as long as the worker lives, as [`Task::HoldLifeline`]
    /// does for the search worker; answered by [`TextBody::LifelineHeld`].
    HoldLifeline {
        /// The lock's name, unique to this worker.
        lock: String,
    },
    /// Load the dataset's text encoder (weights and reduction from the folder at `base`),
    /// pick the backend (WebGPU if an adapter answers, else CPU) and warm it up.
    Load {
        /// The dataset folder's URL.
        base: String,
        /// The encoder as `dataset.json` describes it.
        encoder: TextEncoder,
    },
    /// Encode a text into a query on the index's `u8` grid.
    Encode {
        /// The text.
        text: String,
    },
    /// Encode an image file of the user's own into a query on the index's `u8` grid,
    /// loading the dataset's image encoder first when it is not the one loaded (its
    /// download reported as [`TextBody::Progress`] under this request's `seq`).
    EncodeImage {
        /// The dataset folder's URL.
        base: String,
        /// The encoder as `dataset.json` describes it.
        encoder: ImageEncoder,
        /// The file's bytes (a `Uint8Array` between the threads, not an array of numbers).
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
}

/// A reply from the text worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextReply {
    /// The `seq` of the request answered.
    pub seq: u32,
    /// The answer.
    pub body: TextBody,
}

/// What the text worker answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TextBody {
    /// Files fetched so far.
    Progress(Progress),
    /// The worker holds its lifeline ([`TextTask::HoldLifeline`]).
    LifelineHeld {
        /// The lock's name.
        lock: String,
    },
    /// The encoder is ready.
    Loaded {
        /// Where it runs.
        backend: Backend,
        /// The warm-up encode, in milliseconds (includes shader compilation on WebGPU).
        warmup_ms: f64,
    },
    /// The text's query.
    Encoded {
        /// The query on the index's `u8` grid.
        query: Vec<u8>,
        /// Encode time in milliseconds.
        encode_ms: f64,
    },
    /// The request failed.
    Failed(Failure),
}

/// Where the text encoder runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn on the browser's WebGPU adapter.
    Webgpu,
    /// burn's flex CPU backend.
    Cpu,
}

impl Backend {
    /// The name shown in the page (`data-testid="backend"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Webgpu => "webgpu",
            Backend::Cpu => "cpu",
        }
    }
}

/// Download progress of one request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// What is loading, for people (`features`, `tree tops`, `leaves`).
    pub what: String,
    /// Files done (fetched or read from the cache).
    pub files_done: u32,
    /// Files the step needs.
    pub files_total: u32,
    /// Bytes done.
    pub bytes_done: u64,
    /// Bytes the step needs.
    pub bytes_total: u64,
    /// Milliseconds since the step started (the rate and the time left are estimated
    /// from it).
    pub elapsed_ms: f64,
}

/// How fast a step's bytes come and how long the rest will take, at the rate so far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Bytes per second so far.
    pub bytes_per_s: f64,
    /// Seconds left at that rate.
    pub remaining_s: f64,
}

impl Progress {
    /// Bytes done as a percentage (100 when nothing is needed).
    pub fn percent(&self) -> f64 {
        if self.bytes_total == 0 {
            100.0
        } else {
            100.0 * self.bytes_done as f64 / self.bytes_total as f64
        }
    }

    /// The rate and the time left; none before a quarter second and some bytes (too
    /// early to tell), or once every byte is in.
    pub fn estimate(&self) -> Option<Estimate> {
        if self.elapsed_ms < 250.0 || self.bytes_done == 0 || self.bytes_done >= self.bytes_total {
            return None;
        }
        let bytes_per_s = self.bytes_done as f64 / (self.elapsed_ms / 1000.0);
        Some(Estimate {
            bytes_per_s,
            remaining_s: (self.bytes_total - self.bytes_done) as f64 / bytes_per_s,
        })
    }

    /// The bytes, the percentage and the estimate, said for people:
    /// `12.3 MB of 64.0 MB (19%) · 2.1 MB/s · about 25 s left`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} of {} ({:.0}%)",
            size_text(self.bytes_done as f64),
            size_text(self.bytes_total as f64),
            self.percent()
        );
        if let Some(estimate) = self.estimate() {
            let left = estimate.remaining_s.ceil();
            let left = if left < 120.0 {
                format!("{left} s")
            } else {
                format!("{} min", (left / 60.0).ceil())
            };
            text += &format!(
                " · {}/s · about {left} left",
                size_text(estimate.bytes_per_s)
            );
        }
        text
    }
}

/// A byte count for people: `789 B`, `456 KB`, `12.3 MB` (powers of 1000).
fn size_text(bytes: f64) -> String {
    if bytes >= 1e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else if bytes >= 1e3 {
        format!("{:.0} KB", bytes / 1e3)
    } else {
        format!("{bytes:.0} B")
    }
}

/// Wall time of each stage of a request, in milliseconds, and the bytes it downloaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimes {
    /// Fetching and checking shards (network or cache).
    pub fetch_ms: f64,
    /// Text encoding (text worker).
    pub encode_ms: f64,
    /// k-NN scan.
    pub knn_ms: f64,
    /// Training the classifier.
    pub train_ms: f64,
    /// Search by classification (box queries or scan, and ranking).
    pub search_ms: f64,
    /// Bytes that came from the network (not the cache).
    pub network_bytes: u64,
}

/// A failed request, said so that a person knows what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What failed, e.g. `loading tree-3-leaves-0001.0123456789abcdef.shard`.
    pub what: String,
    /// The error.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl Failure {
    /// What failed, why (any error's message) and what to do about it.
    pub fn new(what: impl Into<String>, message: impl ToString, hint: &str) -> Self {
        Self {
            what: what.into(),
            message: message.to_string(),
            hint: hint.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_of_nothing_is_done() {
        assert_eq!(Progress::default().percent(), 100.0);
        let half = Progress {
            bytes_done: 5,
            bytes_total: 10,
            ..Progress::default()
        };
        assert_eq!(half.percent(), 50.0);
    }

    #[test]
    fn an_estimate_comes_from_the_rate_so_far() {
        let mut progress = Progress {
            bytes_done: 16_000_000,
            bytes_total: 64_000_000,
            elapsed_ms: 8_000.0,
            ..Progress::default()
        };
        assert_eq!(
            progress.estimate(),
            Some(Estimate {
                bytes_per_s: 2_000_000.0,
                remaining_s: 24.0,
            })
        );
        assert_eq!(
            progress.describe(),
            "16.0 MB of 64.0 MB (25%) · 2.0 MB/s · about 24 s left"
        );
        progress.elapsed_ms = 200.0;
        assert_eq!(progress.estimate(), None, "too early to tell");
        assert_eq!(progress.describe(), "16.0 MB of 64.0 MB (25%)");
        progress.elapsed_ms = 1_000_000.0;
        assert!(
            progress
                .describe()
                .ends_with("· 16 KB/s · about 50 min left")
        );
        progress.bytes_done = 64_000_000;
        assert_eq!(progress.estimate(), None, "done");
        let small = Progress {
            bytes_done: 500,
            bytes_total: 1_500,
            elapsed_ms: 1_000.0,
            ..Progress::default()
        };
        assert_eq!(
            small.describe(),
            "500 B of 2 KB (33%) · 500 B/s · about 2 s left"
        );
    }

    #[test]
    fn messages_round_trip_through_json() {
        let request = WorkerRequest {
            seq: 3,
            task: Task::FineTune {
                request: SearchRequest::new(vec![1, 2]),
            },
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(
            serde_json::from_str::<WorkerRequest>(&json).unwrap(),
            request
        );
    }
}
