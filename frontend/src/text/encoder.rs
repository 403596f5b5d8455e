//! The text worker's encoder and its loop: loads the dataset's CLIP text tower (with burn on
//! WebGPU when the browser has an adapter and the `webgpu` feature is built, else on clip's
//! packed CPU kernels, read out of burn's flex tower), warms it up, and encodes texts into
//! queries on the index's grid (the query's terms, tokenize, text tower, their signed sum,
//! [`QueryProjection`]).

use burn::tensor::{Device, Tensor, TensorData};
use clip::export::holds_int8;
use clip::packed::{PackedPrecision, PackedTextTower};
use clip::{
    MlpHead, QueryTerm, TensorMap, TextConfig, TextTransformer, TokenBatch, Tokenizer, combine,
    load_head_sized, parse_query, read_rows_async,
};
use dataset::{FileRef, Reduction, TextEncoder};
use futures::{SinkExt, StreamExt};

use super::Scope;
use super::image::{self, ImageQueryEncoder};
use crate::items::check_file;
use crate::net::{self, FileCache, Source};
use crate::projection::QueryProjection;
use crate::protocol::{Backend, Failure, Progress, TextBody, TextReply, TextRequest, TextTask};

/// Text a load warms the encoder up with.
const WARMUP_TEXT: &str = "a photo";

pub(super) const HINT_DAMAGED: &str =
    "the dataset's text encoder files are damaged or of another version: rebuild the dataset";

/// A text tower: burn's on WebGPU, clip's packed kernels on the CPU.
enum Tower {
    Burn(TextTransformer),
    Packed(PackedTextTower),
}

/// A loaded encoder.
struct Encoder {
    tokenizer: Tokenizer,
    tower: Tower,
    context: usize,
    /// The paper's text head (`reduction.kind = head`), on the tower's device.
    head: Option<(MlpHead, Device)>,
    projection: QueryProjection,
}

impl Encoder {
    /// The query bytes of `text`, its terms (`beach - people`: [`clip::parse_query`])
    /// encoded in one batch and combined.
    async fn encode(&self, text: &str) -> Result<Vec<u8>, Failure> {
        let what = "encoding the text";
        let mut terms = parse_query(text);
        if terms.is_empty() {
            terms.push(QueryTerm {
                text: text.to_owned(),
                weight: 1.0,
            });
        }
        let ids = terms
            .iter()
            .flat_map(|term| self.tokenizer.tokenize(&term.text, self.context))
            .collect();
        let tokens =
            TokenBatch::new(ids, self.context).map_err(|e| Failure::new(what, e, HINT_DAMAGED))?;
        let rows = match &self.tower {
            Tower::Burn(tower) => {
                let features = tower
                    .forward(&tokens)
                    .map_err(|e| Failure::new(what, e, HINT_DAMAGED))?;
                read_rows_async(features)
                    .await
                    .map_err(|e| Failure::new(what, e, "reload the page"))?
            }
            Tower::Packed(tower) => tower
                .forward(&tokens)
                .map_err(|e| Failure::new(what, e, HINT_DAMAGED))?,
        };
        let rows = through_head(self.head.as_ref(), rows, terms.len(), what).await?;
        let query = combine(&rows, rows.len() / terms.len(), &terms);
        self.projection
            .project(&query)
            .map_err(|e| Failure::new(what, e, HINT_DAMAGED))
    }
}

/// `rows` (`count` of them) through the paper's head, where the dataset has one.
pub(super) async fn through_head(
    head: Option<&(MlpHead, Device)>,
    rows: Vec<f32>,
    count: usize,
    what: &str,
) -> Result<Vec<f32>, Failure> {
    match head {
        Some((head, device)) => {
            let width = rows.len() / count.max(1);
            let input = Tensor::<2>::from_data(TensorData::new(rows, [count, width]), device);
            read_rows_async(head.forward(input))
                .await
                .map_err(|e| Failure::new(what, e, "reload the page"))
        }
        None => Ok(rows),
    }
}

/// Answers the app's requests until the bridge closes.
pub(super) async fn serve(mut scope: Scope) {
    let cache = FileCache::open().await;
    let mut encoder: Option<Encoder> = None;
    let mut image_encoder: Option<ImageQueryEncoder> = None;
    while let Some(TextRequest { seq, task }) = scope.next().await {
        let body = match task {
            TextTask::HoldLifeline { lock } => match net::hold_lock(&lock).await {
                Ok(()) => TextBody::LifelineHeld { lock },
                Err(e) => TextBody::Failed(Failure::new(
                    "watching the text worker",
                    e,
                    "a text worker that stops will not be restarted: reload the page then",
                )),
            },
            TextTask::Load {
                base,
                encoder: spec,
            } => {
                encoder = None;
                match load(&cache, &base, &spec, seq, &mut scope).await {
                    Ok((loaded, backend)) => {
                        let start = net::now_ms();
                        let warm = loaded.encode(WARMUP_TEXT).await;
                        let warmup_ms = net::now_ms() - start;
                        match warm {
                            Ok(_) => {
                                encoder = Some(loaded);
                                TextBody::Loaded { backend, warmup_ms }
                            }
                            Err(f) => TextBody::Failed(f),
                        }
                    }
                    Err(f) => TextBody::Failed(f),
                }
            }
            TextTask::EncodeImage {
                base,
                encoder: spec,
                bytes,
            } => {
                let encoded = async {
                    let loaded =
                        image::load_once(&cache, &base, &spec, &mut image_encoder, seq, &mut scope)
                            .await?;
                    // The encode alone (decode, preprocess, tower, head), not the load.
                    let start = net::now_ms();
                    let query = loaded.encode(&bytes).await?;
                    Ok::<_, Failure>(TextBody::Encoded {
                        query,
                        encode_ms: net::now_ms() - start,
                    })
                };
                encoded.await.unwrap_or_else(TextBody::Failed)
            }
            TextTask::Encode { text } => match &encoder {
                Some(loaded) => {
                    let start = net::now_ms();
                    match loaded.encode(&text).await {
                        Ok(query) => TextBody::Encoded {
                            query,
                            encode_ms: net::now_ms() - start,
                        },
                        Err(f) => TextBody::Failed(f),
                    }
                }
                None => TextBody::Failed(Failure::new(
                    "text search",
                    "the text encoder is not loaded",
                    "wait for it to load, or reload the page",
                )),
            },
        };
        if scope.send(TextReply { seq, body }).await.is_err() {
            break;
        }
    }
}

/// WebGPU when built in and an adapter answers; the flex CPU backend otherwise.
async fn pick_device() -> (Device, Backend) {
    #[cfg(feature = "webgpu")]
    if let Ok(device) = Device::wgpu_options().init_async().await {
        return (device, Backend::Webgpu);
    }
    (Device::flex(), Backend::Cpu)
}

/// How often a download in progress is reported, in milliseconds.
const REPORT_EVERY_MS: f64 = 100.0;

/// A load's progress, reported to the page as bytes arrive.
struct Reporter<'a> {
    progress: Progress,
    started_ms: f64,
    reported_ms: f64,
    seq: u32,
    scope: &'a mut Scope,
}

impl Reporter<'_> {
    /// Sends the progress: always when `now`, else at most every [`REPORT_EVERY_MS`].
    async fn report(&mut self, now: bool) {
        let time = net::now_ms();
        if !now && time - self.reported_ms < REPORT_EVERY_MS {
            return;
        }
        self.reported_ms = time;
        self.progress.elapsed_ms = time - self.started_ms;
        // Progress is best effort: a closed bridge ends the loop at the next reply.
        let _ = self
            .scope
            .send(TextReply {
                seq: self.seq,
                body: TextBody::Progress(self.progress.clone()),
            })
            .await;
    }
}

/// The map from a tower's features to the index's space: the paper's head `head_name`
/// from the reduction's file (then the identity), else the file's PCA, or the identity
/// when there is no file.
fn load_reduction(
    reduction: &Reduction,
    file: Option<(Vec<u8>, String)>,
    head_name: &str,
    projection_dim: usize,
    device: &Device,
) -> Result<(Option<(MlpHead, Device)>, QueryProjection), Failure> {
    Ok(match (reduction, file) {
        (Reduction::Head { .. }, Some((bytes, what))) => {
            let tensors = TensorMap::from_safetensors(&bytes)
                .map_err(|e| Failure::new(what, e, HINT_DAMAGED))?;
            let (head, head_config) = load_head_sized(&tensors, head_name, projection_dim, device)
                .map_err(|e| {
                    Failure::new(
                        format!("loading the {}", head_name.replace('_', " ")),
                        e,
                        HINT_DAMAGED,
                    )
                })?;
            let dims = head_config.output;
            (
                Some((head, device.clone())),
                QueryProjection::Identity { dims },
            )
        }
        (_, Some((bytes, what))) => {
            let projection = QueryProjection::pca_file(&bytes)
                .map_err(|e| Failure::new(what, e, HINT_DAMAGED))?;
            (None, projection)
        }
        (_, None) => (
            None,
            QueryProjection::Identity {
                dims: projection_dim,
            },
        ),
    })
}

/// Fetches `file` (Cache API first, else streamed from the network with its bytes
/// reported as they arrive) and checks it against `dataset.json`.
async fn fetch_file(
    cache: &FileCache,
    base: &str,
    file: &FileRef,
    reporter: &mut Reporter<'_>,
) -> Result<Vec<u8>, Failure> {
    let url = format!("{base}{}", file.name);
    let what = || format!("loading {}", file.name);
    let network_hint = "check the connection, then reload";
    let fetched = match cache.stored(&url).await {
        Some(bytes) => {
            reporter.progress.bytes_done += file.bytes;
            (bytes, Source::Cache)
        }
        None => {
            let mut download = net::Download::start(&url)
                .await
                .map_err(|e| Failure::new(what(), e, network_hint))?;
            while let Some(read) = download
                .next_chunk()
                .await
                .map_err(|e| Failure::new(what(), e, network_hint))?
            {
                reporter.progress.bytes_done += read as u64;
                reporter.report(false).await;
            }
            (download.into_bytes(), Source::Network)
        }
    };
    reporter.progress.files_done += 1;
    reporter.report(true).await;
    let checked = cache
        .check_fetched(&url, fetched, |bytes| check_file(file, bytes))
        .await
        .map_err(|e| e.into_failure(what(), network_hint, HINT_DAMAGED))?;
    Ok(checked.bytes)
}

/// Fetches an encoder's weights and its reduction's file (if any), reported as `what`.
async fn fetch_encoder(
    cache: &FileCache,
    base: &str,
    what: &str,
    weights: &FileRef,
    reduction: &Reduction,
    seq: u32,
    scope: &mut Scope,
) -> Result<(Vec<u8>, Option<(Vec<u8>, String)>), Failure> {
    let reduction_file = match reduction {
        Reduction::Pca { file } | Reduction::Head { file } => Some(file),
        Reduction::Identity => None,
    };
    let started_ms = net::now_ms();
    let mut reporter = Reporter {
        progress: Progress {
            what: what.to_owned(),
            files_total: 1 + u32::from(reduction_file.is_some()),
            bytes_total: weights.bytes + reduction_file.map_or(0, |f| f.bytes),
            ..Progress::default()
        },
        started_ms,
        reported_ms: started_ms,
        seq,
        scope,
    };
    let weights = fetch_file(cache, base, weights, &mut reporter).await?;
    let reduction = match reduction_file {
        Some(file) => Some((
            fetch_file(cache, base, file, &mut reporter).await?,
            format!("reading {}", file.name),
        )),
        None => None,
    };
    Ok((weights, reduction))
}

/// What either tower's load needs from the dataset's files: the tower's config and
/// tensors, the precision its file ships in, the device picked, and the reduction after it.
pub(super) struct EncoderParts<C> {
    pub(super) config: C,
    pub(super) tensors: TensorMap,
    /// What the packed CPU kernels run: int8 for an int8 export, else f32.
    pub(super) precision: PackedPrecision,
    pub(super) device: Device,
    pub(super) backend: Backend,
    pub(super) head: Option<(MlpHead, Device)>,
    pub(super) projection: QueryProjection,
}

/// Fetches an encoder's weights and reduction (`files`: weights, reduction, config as
/// `dataset.json` gives them; reported as `what`), reads them and picks the device; `head`
/// is the name of its head in a head reduction's file, and the tower's output width.
pub(super) async fn load_parts<C: serde::de::DeserializeOwned>(
    cache: &FileCache,
    base: &str,
    what: &str,
    files: (&FileRef, &Reduction, &serde_json::Value),
    head: (&str, usize),
    seq: u32,
    scope: &mut Scope,
) -> Result<EncoderParts<C>, Failure> {
    let (weights, reduction_spec, config) = files;
    let (head_name, projection_dim) = head;
    let (weights, reduction) =
        fetch_encoder(cache, base, what, weights, reduction_spec, seq, scope).await?;
    let what = format!("loading the {what}");
    let config: C =
        serde_json::from_value(config.clone()).map_err(|e| Failure::new(&what, e, HINT_DAMAGED))?;
    // The weights are held about once at a time (a ViT-B/32 tower is 253 MB in f32): the
    // file goes once the f32 tensors exist, the tensors move into burn's tower one by one,
    // and on the CPU burn's tower goes once it is packed.
    let int8 = holds_int8(&weights).map_err(|e| Failure::new(&what, e, HINT_DAMAGED))?;
    let tensors =
        TensorMap::from_safetensors(&weights).map_err(|e| Failure::new(&what, e, HINT_DAMAGED))?;
    drop(weights);
    let (device, backend) = pick_device().await;
    let (head, projection) = load_reduction(
        reduction_spec,
        reduction,
        head_name,
        projection_dim,
        &device,
    )?;
    Ok(EncoderParts {
        config,
        tensors,
        precision: if int8 {
            PackedPrecision::Int8
        } else {
            PackedPrecision::F32
        },
        device,
        backend,
        head,
        projection,
    })
}

async fn load(
    cache: &FileCache,
    base: &str,
    spec: &TextEncoder,
    seq: u32,
    scope: &mut Scope,
) -> Result<(Encoder, Backend), Failure> {
    let EncoderParts {
        config,
        tensors,
        precision,
        device,
        backend,
        head,
        projection,
    } = load_parts::<TextConfig>(
        cache,
        base,
        "text encoder",
        (&spec.weights, &spec.reduction, &spec.config),
        ("text_head", spec.projection_dim),
        seq,
        scope,
    )
    .await?;
    let what = "loading the text encoder";
    let tower = tensors
        .into_text_tower(&config, spec.projection_dim, &device)
        .map_err(|e| Failure::new(what, e, HINT_DAMAGED))?;
    let tower = if backend == Backend::Cpu {
        // The whole tower runs on clip's packed simd128 kernels, in the precision the dataset
        // ships (int8 by default: about half the f32 time).
        let packed = PackedTextTower::new(&tower, config.layer_norm_eps, precision)
            .map_err(|e| Failure::new(what, e, "reload the page"))?;
        Tower::Packed(packed)
    } else {
        Tower::Burn(tower)
    };
    let tokenizer = Tokenizer::new().map_err(|e| Failure::new(what, e, "reload the page"))?;
    Ok((
        Encoder {
            tokenizer,
            tower,
            context: config.max_position_embeddings,
            head,
            projection,
        },
        backend,
    ))
}
