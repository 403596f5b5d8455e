//! Loading what the page shows: the catalog, a dataset's `dataset.json` (then the worker
//! opens its index) and the item chunks (captions, thumbnails) of the tiles shown.

use std::collections::HashSet;
use std::rc::Rc;

use dataset::items_table::Located;
use dataset::{Catalog, DatasetManifest, Item};
use yew::platform::spawn_local;
use yew::prelude::*;

use super::DEFAULT_CATALOG;
use super::page::{resolve, shared_from_url, url_params};
use super::state::{Msg, OpenDataset, Pending, State};
use super::workers::Sender;
use crate::items::{ItemsError, parse_chunk};
use crate::net::{self, FileCache};
use crate::protocol::{Failure, Task};
use crate::source::DataSource;

/// Opens the element's `dataset` attribute (again when it changes), or the page URL's
/// catalog and dataset, once.
#[hook]
pub(super) fn use_opening(sender: Sender, source: Option<DataSource>) {
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
        match shared_from_url(&params) {
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
pub(super) fn open_dataset(catalog_url: String, name: String, path: String, sender: Sender) {
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
                    what.clone(),
                    e,
                    "rebuild the dataset with this version of precompute",
                )
            })?;
            let dataset = OpenDataset::new(
                name.unwrap_or_else(|| manifest.name.clone()),
                base,
                manifest,
            );
            dataset.training().map_err(|e| {
                Failure::new(
                    what,
                    format!("dataset.json: search.training: {e}"),
                    "fix the search settings and rebuild the dataset",
                )
            })?;
            Ok::<_, Failure>(dataset)
        }
        .await;
        match opened {
            Ok(dataset) => {
                let task = Task::Open {
                    base: dataset.base.clone(),
                    index: dataset.manifest.index.clone(),
                };
                dispatch.dispatch(Msg::Dataset(Rc::new(dataset)));
                sender.send(task, Pending::Open);
            }
            Err(f) => dispatch.dispatch(Msg::Error(f)),
        }
    });
}

/// Loads the item chunks of the tiles shown, each asked for once at a time.
#[hook]
pub(super) fn use_item_chunks(state: UseReducerHandle<State>) {
    // Item chunks being fetched, by dataset folder and chunk.
    let in_flight = use_mut_ref(HashSet::<(String, u64)>::new);
    let shown: Vec<u32> = state.session.shown();
    let dataset = state.dataset.clone();
    use_effect_with((shown, dataset), move |(shown, dataset)| {
        let Some(dataset) = dataset.clone() else {
            return;
        };
        for chunk in dataset.chunks_of(shown.iter().copied()) {
            let key = (dataset.base.clone(), chunk);
            if state.items.contains_key(&chunk) || !in_flight.borrow_mut().insert(key.clone()) {
                continue;
            }
            let dispatch = state.dispatcher();
            let dataset = dataset.clone();
            let in_flight = in_flight.clone();
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
                in_flight.borrow_mut().remove(&key);
            });
        }
    });
}

/// Fetches and checks items chunk `chunk` of `dataset` (Cache API first), after the
/// table files that name it (the top, then its page) where not read yet; returns its items
/// and the bytes that came from the network.
pub(super) async fn load_chunk(
    dataset: &OpenDataset,
    chunk: u64,
) -> Result<(Rc<Vec<Item>>, u64), Failure> {
    let cache = FileCache::open().await;
    let mut network = 0;
    let damaged = |name: &str, e: net::CheckError<ItemsError>| {
        e.into_failure(
            format!("loading {name}"),
            "check the connection, then page again",
            "the dataset on the server is damaged: rebuild it",
        )
    };
    loop {
        let located = dataset.items.borrow().locate(chunk);
        let file = match located {
            None => {
                return Err(Failure::new(
                    "loading captions",
                    "no such items chunk",
                    "reload the page",
                ));
            }
            Some(Located::Chunk(file)) => file,
            Some(Located::Table(file)) => {
                let url = format!("{}{}", dataset.base, file.name);
                let checked = cache
                    .fetch_checked(&url, |bytes| {
                        let hashes = dataset.items.borrow().read(&file, bytes);
                        hashes.map_err(ItemsError::from)
                    })
                    .await
                    .map_err(|e| damaged(&file.name, e))?;
                network += checked.network_bytes;
                dataset.items.borrow_mut().insert(&file, checked.value);
                continue;
            }
        };
        let url = format!("{}{}", dataset.base, file.name);
        let checked = cache
            .fetch_checked(&url, |bytes| parse_chunk(&dataset.manifest, &file, bytes))
            .await
            .map_err(|e| damaged(&file.name, e))?;
        return Ok((
            Rc::new(checked.value.items),
            network + checked.network_bytes,
        ));
    }
}
