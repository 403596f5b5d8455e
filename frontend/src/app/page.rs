//! The page around the app: its URL (parameters read, the search written back, relative
//! URLs resolved) and file downloads.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url, UrlSearchParams};
use yew::prelude::*;

use super::DEFAULT_CATALOG;
use crate::net::describe;
use crate::share::{ShareError, SharedSearch};

/// `relative` resolved against `base` (both URLs or paths of the page).
pub(super) fn resolve(relative: &str, base: &str) -> Result<String, String> {
    let base = Url::new_with_base(base, &page_href()).map_err(|e| describe(&e))?;
    Url::new_with_base(relative, &base.href())
        .map(|u| u.href())
        .map_err(|e| describe(&e))
}

fn page_href() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
}

/// The page's query parameters as pairs.
pub(super) fn url_params() -> Vec<(String, String)> {
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

/// The page URL's search ([`SharedSearch::from_params`]).
pub(super) fn shared_from_url(params: &[(String, String)]) -> Result<SharedSearch, ShareError> {
    SharedSearch::from_params(params.iter().map(|(n, v)| (n.as_str(), v.as_str())))
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

/// The page URL follows the search while `follow`: once the dataset is open, and only on
/// the app's own page (embedded, the host page owns its URL).
#[hook]
pub(super) fn use_url_following(shared: SharedSearch, catalog_url: String, follow: bool) {
    use_effect_with(
        (shared, catalog_url, follow),
        move |(shared, catalog_url, follow)| {
            if *follow {
                write_url(catalog_url, shared);
            }
        },
    );
}

/// Offers `text` as a file download.
pub(super) fn download(name: &str, mime: &str, text: &str) -> Result<(), JsValue> {
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
