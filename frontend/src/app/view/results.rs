//! The results: the status line (counts, stage times, bytes), the choice between the
//! results and the round's least sure images, the grid of tiles with its keyboard, the
//! pager and the round's rules.

use yew::prelude::*;

use super::session_callback;
use crate::app::state::{Msg, State};
use crate::app::workers::Sender;
use crate::items;
use crate::labels::Label;
use crate::protocol::StageTimes;
use crate::session::{Action, FIRST_RESULTS, Listing, PAGE_SIZE, Query};

/// Tiles per grid row on a wide screen (style.css), when the layout cannot be read.
const COLUMNS: isize = 6;

/// Tiles per row of the grid `e` happened in, as the CSS lays it out now (fewer on a
/// phone): arrow up / down move this far.
fn columns_of(e: &KeyboardEvent) -> isize {
    use wasm_bindgen::JsCast;
    e.target()
        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
        .and_then(|grid| web_sys::window()?.get_computed_style(&grid).ok().flatten())
        .and_then(|style| style.get_property_value("grid-template-columns").ok())
        .map(|columns| columns.split_whitespace().count() as isize)
        .filter(|&columns| columns > 0)
        .unwrap_or(COLUMNS)
}

/// The status line, the grid (Enter runs `fine_tune`), the pager and the rules.
pub(super) fn view(
    state: &UseReducerHandle<State>,
    sender: &Sender,
    fine_tune: &Callback<()>,
) -> Html {
    let on_like = {
        let state = state.clone();
        let sender = sender.clone();
        Callback::from(move |id: u32| sender.run_query(&state, Query::Like(id)))
    };
    let on_click = session_callback(state, |(id, shift): (u32, bool)| Action::Click {
        id,
        shift,
    });
    let on_key = {
        let dispatch = state.dispatcher();
        let fine_tune = fine_tune.clone();
        Callback::from(move |e: KeyboardEvent| {
            let action = match e.key().as_str() {
                "ArrowRight" => Action::MoveFocus(1),
                "ArrowLeft" => Action::MoveFocus(-1),
                "ArrowDown" => Action::MoveFocus(columns_of(&e)),
                "ArrowUp" => Action::MoveFocus(-columns_of(&e)),
                "r" => Action::LabelFocused(Label::Relevant),
                "i" => Action::LabelFocused(Label::Irrelevant),
                "n" => Action::LabelFocused(Label::None),
                "u" => Action::Undo,
                "Enter" => {
                    e.prevent_default();
                    fine_tune.emit(());
                    return;
                }
                _ => return,
            };
            e.prevent_default();
            dispatch.dispatch(Msg::Session(action));
        })
    };
    let page = |to: usize| session_callback(state, move |_: MouseEvent| Action::Page(to));
    let list = |to: Listing| session_callback(state, move |_: MouseEvent| Action::List(to));
    let on_more = {
        let state = state.clone();
        let sender = sender.clone();
        Callback::from(move |_: MouseEvent| sender.more_results(&state))
    };

    let session = &state.session;
    let base = state
        .dataset
        .as_ref()
        .map(|d| d.base.clone())
        .unwrap_or_default();
    let first_shown = session.page * PAGE_SIZE;
    let tiles = state.grid().iter().enumerate().map(|(k, &id)| {
        let item = state.item(id);
        html! {
            <Tile key={id} id={id} label={session.labels.get(id)}
                focused={session.focus == Some(first_shown + k)}
                thumb={item.map(|i| AttrValue::from(format!("{base}{}", i.thumb)))}
                caption={item.map(|i| AttrValue::from(items::caption_line(id, i)))}
                on_click={on_click.clone()} on_like={on_like.clone()} />
        }
    });
    let pages = session.pages();
    let (relevant, irrelevant) = (
        session.labels.relevant().len(),
        session.labels.irrelevant().len(),
    );
    html! {
        <>
            <section class="status">
                <span data-testid="count">{session.round.ids.len()}</span>{" results · "}
                {format!("{relevant} relevant, {irrelevant} irrelevant labelled · ")}
                <span data-testid="times">{times_text(&session.round.times)}</span>
                {format!(" · {} bytes downloaded", state.network_bytes)}
            </section>
            if session.round.model.is_some() {
                <nav class="listing" aria-label="which images to show">
                    <button data-testid="show-results" aria-pressed={(session.listing == Listing::Results).to_string()}
                        onclick={list(Listing::Results)}>{"results"}</button>
                    <button data-testid="show-uncertain" aria-pressed={(session.listing == Listing::Uncertain).to_string()}
                        title="the images this round's model is least sure about: labelling them teaches the next round most"
                        onclick={list(Listing::Uncertain)}>{format!("least sure ({})", session.round.uncertain.len())}</button>
                </nav>
            }
            if session.listing == Listing::Uncertain {
                <p class="hint" data-testid="uncertain">{
                    "Least sure first: the unlabelled images nearest this model's border. Label them and fine-tune."
                }</p>
            }
            <div class="grid" tabindex="0" onkeydown={on_key}>{ for tiles }</div>
            <nav class="pager">
                <button data-testid="prev-page" disabled={session.page == 0}
                    onclick={page(session.page.saturating_sub(1))}>{"previous"}</button>
                <span data-testid="page">{format!("page {} of {}", session.page + 1, pages.max(1))}</span>
                <button data-testid="next-page" disabled={session.page + 1 >= pages}
                    onclick={page(session.page + 1)}>{"next"}</button>
                if state.more_results_k().is_some() {
                    <button data-testid="more-results" disabled={!state.can_send()}
                        onclick={on_more}>{format!("{} more results", FIRST_RESULTS)}</button>
                }
            </nav>
            <section class="rules" data-testid="rules">
                <h2>{"Rules"}</h2>
                if session.round.rules.is_empty() {
                    <p>{"no boxes yet: label images and fine-tune (the tree baselines have none)"}</p>
                } else {
                    <ol class="readable">{ for session.round.rules.iter().map(|r| html! { <li>{r}</li> }) }</ol>
                    <pre class="sql">{session.round.sql.join(";\n")}</pre>
                }
            </section>
        </>
    }
}

#[derive(Properties, PartialEq)]
struct TileProps {
    id: u32,
    label: Label,
    focused: bool,
    thumb: Option<AttrValue>,
    caption: Option<AttrValue>,
    on_click: Callback<(u32, bool)>,
    on_like: Callback<u32>,
}

/// One result: its thumbnail and caption; a click labels it, ≈ searches "more like this".
#[component]
fn Tile(props: &TileProps) -> Html {
    let id = props.id;
    let onclick = {
        let on_click = props.on_click.clone();
        Callback::from(move |e: MouseEvent| on_click.emit((id, e.shift_key())))
    };
    let like = {
        let on_like = props.on_like.clone();
        Callback::from(move |e: MouseEvent| {
            e.stop_propagation();
            on_like.emit(id);
        })
    };
    let caption = props
        .caption
        .clone()
        .unwrap_or_else(|| format!("image {id}").into());
    html! {
        <figure
            class={classes!("tile", props.label.as_str(), props.focused.then_some("focus"))}
            data-testid="result" data-id={id.to_string()} data-label={props.label.as_str()}
            title={caption.clone()} {onclick}>
            if let Some(thumb) = &props.thumb {
                <img src={thumb.clone()} alt={caption.clone()} loading="lazy" />
            } else {
                <div class="placeholder">{id}</div>
            }
            <figcaption>{caption}</figcaption>
            <button class="like" data-testid="more-like-this" title="more like this" onclick={like}>{"≈"}</button>
        </figure>
    }
}

/// A duration as the page shows it, e.g. `3.0 ms`.
pub(super) fn fmt_ms(ms: f64) -> String {
    format!("{ms:.1} ms")
}

/// The stages that took time, e.g. `encode 3.0 ms · k-NN 1.2 ms`.
fn times_text(times: &StageTimes) -> String {
    let mut parts = Vec::new();
    for (name, ms) in [
        ("fetch", times.fetch_ms),
        ("encode", times.encode_ms),
        ("k-NN", times.knn_ms),
        ("train", times.train_ms),
        ("search", times.search_ms),
    ] {
        if ms > 0.0 {
            parts.push(format!("{name} {}", fmt_ms(ms)));
        }
    }
    parts.join(" · ")
}
