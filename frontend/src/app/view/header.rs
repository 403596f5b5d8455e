//! The header: the dataset picker, the query box, the backend and the text encoder's state.

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::results::fmt_ms;
use crate::app::loading::open_dataset;
use crate::app::state::{Msg, State, TextState};
use crate::app::workers::Sender;
use crate::session::Query;

/// The page header; typing edits `query_text`, submitting searches it.
pub(super) fn view(
    state: &UseReducerHandle<State>,
    sender: &Sender,
    query_text: &UseStateHandle<String>,
) -> Html {
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
    let on_search = {
        let state = state.clone();
        let sender = sender.clone();
        let query_text = query_text.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let text = query_text.trim().to_owned();
            if !text.is_empty() {
                sender.run_query(&state, Query::Text(text));
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
    let dataset_name = state
        .dataset
        .as_ref()
        .map(|d| d.name.clone())
        .unwrap_or_default();
    html! {
        <header>
            <h1>{"CLIP-Branches"}</h1>
            <label>{"dataset "}
                <select data-testid="dataset" onchange={on_dataset}>
                    { for state.dataset_choices().into_iter().map(|(name, count)| html! {
                        <option value={name.clone()} selected={name == dataset_name}>
                            {format!("{name} ({count} images)")}
                        </option>
                    }) }
                </select>
            </label>
            <form class="query" onsubmit={on_search}>
                <input data-testid="query" type="search" placeholder="describe the images you want"
                    value={(**query_text).clone()} oninput={on_query_input} />
                <button data-testid="search" type="submit" disabled={!state.can_send()}>{"Search"}</button>
                <small class="query-help" data-testid="query-help">
                    {"join terms with + and -, spaced: beach - people, a dog + snow"}
                </small>
            </form>
            { super::image_query::picker(state, sender) }
            <span class="backend">{"backend "}<b data-testid="backend">{state.backend().as_str()}</b></span>
            <span class="text-status" data-testid="text-status">
                if let TextState::Loading(Some(p)) = &state.text {
                    <progress data-testid="text-progress" max="100" value={format!("{:.1}", p.percent())}
                        aria-label="text encoder download" />{" "}
                }
                {text_status(&state.text)}
            </span>
        </header>
    }
}

/// The text encoder's state, said for people.
fn text_status(text: &TextState) -> String {
    match text {
        TextState::Absent => String::new(),
        TextState::Loading(None) => "text encoder: loading".to_owned(),
        TextState::Loading(Some(p)) => format!("text encoder: {}", p.describe()),
        TextState::Ready { warmup_ms, .. } => {
            format!("text encoder ready (warm-up {})", fmt_ms(*warmup_ms))
        }
        TextState::Failed => "text encoder failed".to_owned(),
    }
}

/// The value a `<select>` changed to.
pub(super) fn value_of_select(e: &Event) -> Option<String> {
    e.target_dyn_into::<HtmlSelectElement>().map(|s| s.value())
}
