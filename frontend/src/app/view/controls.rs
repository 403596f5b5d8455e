//! The controls: label every tile shown, the next round's settings, fine-tune and undo.

use dataset::{SEARCHER_NAMES, SearchSettings};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::header::value_of_select;
use super::session_callback;
use crate::app::state::{Msg, Settings, State};
use crate::labels::Label;
use crate::session::Action;
use crate::share::{searcher_from_name, searcher_name};

/// The controls section; `fine_tune` starts a round.
pub(super) fn view(state: &UseReducerHandle<State>, fine_tune: &Callback<()>) -> Html {
    let set_settings = {
        let dispatch = state.dispatcher();
        let settings = state.settings;
        move |change: &dyn Fn(&mut Settings)| {
            let mut next = settings;
            change(&mut next);
            dispatch.dispatch(Msg::Settings(next));
        }
    };
    let on_searcher = {
        let set = set_settings.clone();
        Callback::from(move |e: Event| {
            if let Some(searcher) = value_of_select(&e).as_deref().and_then(searcher_from_name) {
                set(&|s: &mut Settings| s.searcher = searcher);
            }
        })
    };
    let on_random = {
        let set = set_settings.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(v) = input_number(&e) {
                set(&|s: &mut Settings| s.random_negatives = v);
            }
        })
    };
    let on_weight = Callback::from(move |e: InputEvent| {
        if let Some(v) = input_number(&e) {
            set_settings(&|s: &mut Settings| s.negative_weight = v);
        }
    });
    let label_shown =
        |label: Label| session_callback(state, move |_: MouseEvent| Action::LabelShown(label));
    let on_finetune = fine_tune.reform(|_: MouseEvent| ());
    let on_undo = session_callback(state, |_: MouseEvent| Action::Undo);
    let settings = state.settings;
    // The open dataset's search settings (`dataset.json`'s `search`), else the app's.
    let (offered, search) = match &state.dataset {
        Some(dataset) => (dataset.searchers(), dataset.search_settings()),
        None => (
            SEARCHER_NAMES
                .iter()
                .filter_map(|n| searcher_from_name(n))
                .collect(),
            SearchSettings::default(),
        ),
    };
    let (random, weight) = (search.random_negatives, search.negative_weight);
    html! {
        <section class="controls">
            <button data-testid="all-relevant" onclick={label_shown(Label::Relevant)}>{"all relevant"}</button>
            <button data-testid="all-irrelevant" onclick={label_shown(Label::Irrelevant)}>{"all irrelevant"}</button>
            <button data-testid="clear" onclick={label_shown(Label::None)}>{"clear"}</button>
            <label>{format!("random negatives {} ", settings.random_negatives)}
                <input data-testid="random-negatives" type="range" min={random.min.to_string()} max={random.max.to_string()}
                    value={settings.random_negatives.to_string()} oninput={on_random} />
            </label>
            <label>{format!("negative weight {} ", settings.negative_weight)}
                <input data-testid="negative-weight" type="range" min={weight.min.to_string()} max={weight.max.to_string()}
                    value={settings.negative_weight.to_string()} oninput={on_weight} />
            </label>
            <label>{"searcher "}
            <select data-testid="searcher" onchange={on_searcher}>
                { for offered.into_iter().map(|sr| html! {
                        <option value={searcher_name(sr)} selected={sr == settings.searcher}>
                            {sr.name()}
                        </option>
                    }) }
            </select>
            </label>
            <button data-testid="finetune" onclick={on_finetune} disabled={!state.can_send()}>{"Fine-tune search"}</button>
            <button data-testid="undo" disabled={state.session.undoable() == 0} onclick={on_undo}>
                {"undo round"}
            </button>
        </section>
    }
}

/// The number a range input changed to.
fn input_number(e: &InputEvent) -> Option<u32> {
    e.target_dyn_into::<HtmlInputElement>()
        .and_then(|i| i.value().parse().ok())
}
