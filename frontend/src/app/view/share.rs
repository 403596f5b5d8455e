//! Sharing a search: the results exported as JSON or CSV, the model saved as a search,
//! and a saved search pasted back and applied.

use yew::platform::spawn_local;
use yew::prelude::*;

use crate::app::loading::load_chunk;
use crate::app::page::download;
use crate::app::state::{Msg, Pending, State};
use crate::app::workers::Sender;
use crate::net::describe;
use crate::protocol::{Failure, Task};
use crate::share;

/// The share section; `saved_text` holds the pasted saved search.
pub(super) fn view(
    state: &UseReducerHandle<State>,
    sender: &Sender,
    saved_text: &UseStateHandle<String>,
) -> Html {
    let on_export = |format: &'static str| {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| spawn_local(export(state.clone(), format)))
    };
    let on_save = {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| {
            let Some(model) = &state.session.round.model else {
                return;
            };
            let saved = share::SavedSearch {
                index: state.dataset.as_ref().map(|d| d.manifest.index.clone()),
                model: model.clone(),
            };
            let json = serde_json::to_string_pretty(&saved).unwrap_or_default();
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
            if !state.can_send() {
                return;
            }
            let Some(index) = state.dataset.as_ref().map(|d| d.manifest.index.clone()) else {
                return;
            };
            match share::SavedSearch::read(&saved_text, &index) {
                Ok(model) => sender.send(Task::Apply { model }, Pending::Apply),
                Err(e) => state.dispatch(Msg::Error(Failure::new(
                    "reading the saved search",
                    e,
                    "paste the JSON that \"save search\" wrote on this dataset",
                ))),
            }
        })
    };
    html! {
        <section class="share">
            <button data-testid="export-json" onclick={on_export("json")}>{"export JSON"}</button>
            <button data-testid="export-csv" onclick={on_export("csv")}>{"export CSV"}</button>
            <button data-testid="save-search" onclick={on_save} disabled={state.session.round.model.is_none()}>{"save search"}</button>
            <textarea data-testid="saved-search" placeholder="paste a saved search (JSON)"
                value={(**saved_text).clone()} oninput={on_saved_input} />
            <button data-testid="apply-search" onclick={on_apply} disabled={!state.can_send()}>{"apply saved search"}</button>
        </section>
    }
}

/// Downloads the results and the labelled images as `format` (`json` or `csv`), loading
/// the item chunks they need first.
async fn export(state: UseReducerHandle<State>, format: &'static str) {
    let Some(dataset) = state.dataset.clone() else {
        return;
    };
    let labels: Vec<u32> = state.session.labels.iter().map(|(id, _)| id).collect();
    let mut items = state.items.clone();
    for chunk in dataset.chunks_of(state.session.round.ids.iter().chain(&labels)) {
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
    let rows = share::export_rows(&state.session.round.ids, &state.session.labels, item);
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
