//! Saved searches kept in the browser: one IndexedDB object store of
//! [`StoredSearch`] records under increasing keys, listed oldest first. Every call opens
//! the database, does one transaction and reports failure as text for the error panel (a
//! browser without IndexedDB, a private window that refuses it).

use js_sys::{Array, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbObjectStore, IdbObjectStoreParameters, IdbRequest, IdbTransactionMode,
};

use crate::net::describe;
use crate::share::StoredSearch;

/// The page's database and its one store.
const DATABASE: &str = "clip-branches";
const STORE: &str = "saved-searches";

/// A stored search and its key in the store.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct StoredEntry {
    /// Its key (what [`delete`] takes).
    pub(super) key: f64,
    /// The record.
    pub(super) search: StoredSearch,
}

/// Every stored search, oldest first.
///
/// # Errors
/// Why the store cannot be read.
pub(super) async fn list() -> Result<Vec<StoredEntry>, String> {
    let store = store(IdbTransactionMode::Readonly).await?;
    // One transaction: the keys and the values come in the same (key) order.
    let keys = request(store.get_all_keys().map_err(|e| describe(&e))?);
    let values = request(store.get_all().map_err(|e| describe(&e))?);
    let (keys, values): (Array, Array) =
        (keys.await?.unchecked_into(), values.await?.unchecked_into());
    keys.iter()
        .zip(values.iter())
        .map(|(key, value)| {
            Ok(StoredEntry {
                key: key
                    .as_f64()
                    .ok_or("a stored search with a key that is no number")?,
                search: serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())?,
            })
        })
        .collect()
}

/// Stores `search` under the next key.
///
/// # Errors
/// Why it could not be stored.
pub(super) async fn add(search: &StoredSearch) -> Result<(), String> {
    let value = serde_wasm_bindgen::to_value(search).map_err(|e| e.to_string())?;
    let store = store(IdbTransactionMode::Readwrite).await?;
    request(store.add(&value).map_err(|e| describe(&e))?).await?;
    Ok(())
}

/// Deletes the stored search under `key`.
///
/// # Errors
/// Why it could not be deleted.
pub(super) async fn delete(key: f64) -> Result<(), String> {
    let store = store(IdbTransactionMode::Readwrite).await?;
    request(
        store
            .delete(&JsValue::from_f64(key))
            .map_err(|e| describe(&e))?,
    )
    .await?;
    Ok(())
}

/// The store, in a new transaction of `mode`.
async fn store(mode: IdbTransactionMode) -> Result<IdbObjectStore, String> {
    let database = open().await?;
    let transaction = database
        .transaction_with_str_and_mode(STORE, mode)
        .map_err(|e| describe(&e))?;
    transaction.object_store(STORE).map_err(|e| describe(&e))
}

/// Opens the database, making its store the first time.
async fn open() -> Result<IdbDatabase, String> {
    let factory = web_sys::window()
        .and_then(|w| w.indexed_db().ok().flatten())
        .ok_or("this browser keeps no IndexedDB here")?;
    let opening = factory
        .open_with_u32(DATABASE, 1)
        .map_err(|e| describe(&e))?;
    let upgrading = opening.clone();
    let on_upgrade = Closure::once_into_js(move || {
        if let Ok(database) = upgrading.result() {
            let parameters = IdbObjectStoreParameters::new();
            parameters.set_auto_increment(true);
            // A failure here fails the open request, which reports it.
            let _ = database
                .unchecked_into::<IdbDatabase>()
                .create_object_store_with_optional_parameters(STORE, &parameters);
        }
    });
    opening.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
    Ok(request(opening.into()).await?.unchecked_into())
}

/// The result of `request` once it succeeds, or its error's message.
async fn request(request: IdbRequest) -> Result<JsValue, String> {
    let settled = Promise::new(&mut |resolve, reject| {
        let on_success = Closure::once_into_js(move || {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        });
        let on_error = Closure::once_into_js(move || {
            let _ = reject.call0(&JsValue::UNDEFINED);
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
    });
    match JsFuture::from(settled).await {
        Ok(_) => request.result().map_err(|e| describe(&e)),
        Err(_) => Err(request.error().ok().flatten().map_or_else(
            || "IndexedDB refused the request".to_owned(),
            |e| e.message(),
        )),
    }
}
