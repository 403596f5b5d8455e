//! Sharing a search: the results exported as JSON or CSV, the model saved as a search
//! in the browser (listed, applied, deleted) or as a file (exported, imported, pasted).

use yew::platform::spawn_local;
use yew::prelude::*;

use crate::app::loading::load_chunk;
use crate::app::page::download;
use crate::app::state::{Msg, Pending, State};
use crate::app::stored::{self, StoredEntry};
use crate::app::workers::Sender;
use crate::net::describe;
use crate::protocol::{Failure, Task};
use crate::share::{self, StoredSearch};

/// The saved searches kept in the browser, as last read (loaded once the page mounts).
#[hook]
pub(super) fn use_stored_searches() -> UseStateHandle<Vec<StoredEntry>> {
    let stored = use_state(Vec::new);
    {
        let stored = stored.clone();
        use_effect_with((), move |_| {
            spawn_local(async move {
                // Nothing stored yet, or no IndexedDB: the list stays empty until a save says why.
                if let Ok(entries) = stored::list().await {
                    stored.set(entries);
                }
            })
        });
    }
    stored
}

/// What the share section keeps between renders: the pasted saved search, the name for
/// the next one saved, and the list of saved searches.
#[derive(Clone)]
pub(super) struct ShareInputs {
    pub(super) saved_text: UseStateHandle<String>,
    pub(super) name: UseStateHandle<String>,
    pub(super) stored: UseStateHandle<Vec<StoredEntry>>,
}

/// The share section: exports, saving the search in the browser, the saved list (apply,
/// delete), and a saved search as a file (export, import, paste).
pub(super) fn view(state: &UseReducerHandle<State>, sender: &Sender, inputs: &ShareInputs) -> Html {
    let on_export = |format: &'static str| {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| spawn_local(export(state.clone(), format)))
    };
    let on_save = {
        let state = state.clone();
        let name = inputs.name.clone();
        let stored = inputs.stored.clone();
        Callback::from(move |_: MouseEvent| {
            let Some(json) = saved_json(&state) else {
                return;
            };
            let search = StoredSearch {
                name: match name.trim() {
                    "" => share::search_name(&state.session.query, state.session.undoable()),
                    given => given.to_owned(),
                },
                saved_ms: js_sys::Date::now(),
                json,
            };
            name.set(String::new());
            spawn_local(store_then_list(state.clone(), stored.clone(), search));
        })
    };
    let on_export_search = {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| {
            let Some(json) = saved_json(&state) else {
                return;
            };
            if let Err(e) = download("saved-search.json", "application/json", &json) {
                state.dispatch(Msg::Error(Failure::new(
                    "exporting the search",
                    describe(&e),
                    "try again",
                )));
            }
        })
    };
    let on_import = {
        let state = state.clone();
        let stored = inputs.stored.clone();
        Callback::from(move |e: Event| {
            let Some(input) = e.target_dyn_into::<web_sys::HtmlInputElement>() else {
                return;
            };
            let Some(file) = input.files().and_then(|files| files.get(0)) else {
                return;
            };
            // The same file can be picked again.
            input.set_value("");
            spawn_local(import(state.clone(), stored.clone(), file));
        })
    };
    let on_name = {
        let name = inputs.name.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(input) = e.target_dyn_into::<web_sys::HtmlInputElement>() {
                name.set(input.value());
            }
        })
    };
    let on_saved_input = {
        let saved_text = inputs.saved_text.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(area) = e.target_dyn_into::<web_sys::HtmlTextAreaElement>() {
                saved_text.set(area.value());
            }
        })
    };
    let apply = {
        let state = state.clone();
        let sender = sender.clone();
        move |json: &str| apply_saved(&state, &sender, json)
    };
    let on_apply = {
        let apply = apply.clone();
        let saved_text = inputs.saved_text.clone();
        Callback::from(move |_: MouseEvent| apply(&saved_text))
    };
    let entries = inputs.stored.iter().map(|entry| {
        let on_apply = {
            let apply = apply.clone();
            let json = entry.search.json.clone();
            Callback::from(move |_: MouseEvent| apply(&json))
        };
        let on_delete = {
            let state = state.clone();
            let stored = inputs.stored.clone();
            let key = entry.key;
            Callback::from(move |_: MouseEvent| {
                spawn_local(delete_then_list(state.clone(), stored.clone(), key))
            })
        };
        let name = &entry.search.name;
        html! {
            <li key={entry.key.to_string()} data-testid="stored-search">
                <span class="name">{name}</span>{" "}
                <time>{share::date_text(entry.search.saved_ms)}</time>{" "}
                <button data-testid="apply-stored" onclick={on_apply} disabled={!state.can_send()}
                    aria-label={format!("apply {name}")}>{"apply"}</button>
                <button data-testid="delete-stored" onclick={on_delete}
                    aria-label={format!("delete {name}")}>{"delete"}</button>
            </li>
        }
    });
    let no_model = state.session.round.model.is_none();
    html! {
        <section class="share">
            <button data-testid="export-json" onclick={on_export("json")}>{"export JSON"}</button>
            <button data-testid="export-csv" onclick={on_export("csv")}>{"export CSV"}</button>
            <input data-testid="search-name" type="text" aria-label="name of the search to save"
                placeholder="name (default: the query)" value={(*inputs.name).clone()} oninput={on_name} />
            <button data-testid="save-search" onclick={on_save} disabled={no_model}>{"save search"}</button>
            <button data-testid="export-search" onclick={on_export_search} disabled={no_model}>{"export search file"}</button>
            <label class="import">{"import search file "}
                <input data-testid="import-search" type="file" accept=".json,application/json" onchange={on_import} />
            </label>
            <textarea data-testid="saved-search" placeholder="paste a saved search (JSON)" aria-label="saved search (JSON)"
                value={(*inputs.saved_text).clone()} oninput={on_saved_input} />
            <button data-testid="apply-search" onclick={on_apply} disabled={!state.can_send()}>{"apply saved search"}</button>
            <section class="saved" aria-label="saved searches">
                <h2>{"Saved searches"}</h2>
                if inputs.stored.is_empty() {
                    <p>{"none yet: fine-tune, then \"save search\" keeps the model in this browser"}</p>
                }
                <ul data-testid="saved-searches">{ for entries }</ul>
            </section>
        </section>
    }
}

/// The round's model as a saved search's JSON, with the index it was trained on.
fn saved_json(state: &State) -> Option<String> {
    let saved = share::SavedSearch {
        index: state.dataset.as_ref().map(|d| d.manifest.index.clone()),
        model: state.session.round.model.clone()?,
    };
    serde_json::to_string_pretty(&saved).ok()
}

/// Applies saved search `json` to the open dataset, or says in the error panel why not
/// (not a saved search, or one trained on another index).
fn apply_saved(state: &UseReducerHandle<State>, sender: &Sender, json: &str) {
    if !state.can_send() {
        return;
    }
    let Some(index) = state.dataset.as_ref().map(|d| d.manifest.index.clone()) else {
        return;
    };
    match share::SavedSearch::read(json, &index) {
        Ok(model) => sender.send(Task::Apply { model }, Pending::Apply),
        Err(e) => state.dispatch(Msg::Error(Failure::new(
            "applying the saved search",
            e,
            "apply a search that \"save search\" kept on this dataset",
        ))),
    }
}

/// Keeps `search` in the browser, then lists the saved searches again.
async fn store_then_list(
    state: UseReducerHandle<State>,
    stored: UseStateHandle<Vec<StoredEntry>>,
    search: StoredSearch,
) {
    let change = stored::add(&search);
    let failure = (
        "saving the search in this browser",
        "use \"export search file\" instead",
    );
    change_then_list(state, stored, change, failure).await;
}

/// Deletes the saved search under `key`, then lists them again.
async fn delete_then_list(
    state: UseReducerHandle<State>,
    stored: UseStateHandle<Vec<StoredEntry>>,
    key: f64,
) {
    let failure = ("deleting the saved search", "reload the page and try again");
    change_then_list(state, stored, stored::delete(key), failure).await;
}

/// Awaits `change` to the saved searches, then shows the list as it now is; a failure of
/// either is shown as `(what, hint)`.
async fn change_then_list(
    state: UseReducerHandle<State>,
    stored: UseStateHandle<Vec<StoredEntry>>,
    change: impl std::future::Future<Output = Result<(), String>>,
    (what, hint): (&str, &str),
) {
    let done = async {
        change.await?;
        stored::list().await
    };
    match done.await {
        Ok(entries) => stored.set(entries),
        Err(e) => state.dispatch(Msg::Error(Failure::new(what, e, hint))),
    }
}

/// Reads a saved search file and keeps it in the browser under its file name.
async fn import(
    state: UseReducerHandle<State>,
    stored: UseStateHandle<Vec<StoredEntry>>,
    file: web_sys::File,
) {
    let read = async {
        let text = wasm_bindgen_futures::JsFuture::from(file.text())
            .await
            .map_err(|e| describe(&e))?
            .as_string()
            .unwrap_or_default();
        serde_json::from_str::<share::SavedSearch>(&text).map_err(|e| e.to_string())?;
        Ok::<_, String>(text)
    };
    match read.await {
        Ok(json) => {
            let name = file.name();
            let search = StoredSearch {
                name: name.strip_suffix(".json").unwrap_or(&name).to_owned(),
                saved_ms: js_sys::Date::now(),
                json,
            };
            store_then_list(state, stored, search).await;
        }
        Err(e) => state.dispatch(Msg::Error(Failure::new(
            format!("importing {}", file.name()),
            e,
            "import a file that \"export search file\" wrote",
        ))),
    }
}

/// Downloads the results and the labelled images as `format` (`json` or `csv`), loading
/// the item chunks they need first.
async fn export(state: UseReducerHandle<State>, format: &'static str) {
    let Some(dataset) = state.dataset.clone() else {
        return;
    };
    let labels: Vec<u32> = state.session.labels.iter().map(|(id, _)| id).collect();
    let results: Vec<u32> = state.session.round.ids.iter().collect();
    let mut items = state.items.clone();
    for chunk in dataset.chunks_of(results.iter().chain(&labels).copied()) {
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
    let rows = share::export_rows(&results, &state.session.labels, item);
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
}
