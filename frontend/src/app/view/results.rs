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
        // The key went to a tile's button inside the grid, or to the grid itself.
        .and_then(|target| target.closest(".grid").ok().flatten())
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
    let on_focus = session_callback(state, Action::Focus);
    // One tile is in the tab order (the focused one, else the first): Tab enters the grid
    // at it and leaves after its "more like this"; arrows move within.
    let tab_stop = session
        .focus
        .filter(|f| (first_shown..first_shown + PAGE_SIZE).contains(f))
        .unwrap_or(first_shown);
    let tiles = state.grid().into_iter().enumerate().map(|(k, id)| {
        let item = state.item(id);
        html! {
            <Tile key={id} id={id} position={first_shown + k} label={session.labels.get(id)}
                focused={session.focus == Some(first_shown + k)}
                tab_stop={tab_stop == first_shown + k}
                thumb={item.map(|i| AttrValue::from(format!("{base}{}", i.thumb)))}
                caption={item.map(|i| AttrValue::from(items::caption_line(id, i)))}
                on_click={on_click.clone()} on_like={on_like.clone()} on_focus={on_focus.clone()} />
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
            <div class="grid" role="group" tabindex="-1" onkeydown={on_key}
                aria-label="results: a tile's button cycles its label (relevant, irrelevant, none); arrows move, r / i / n label, Enter fine-tunes">
                { for tiles }
            </div>
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
    /// Its position in the list shown (all pages).
    position: usize,
    label: Label,
    focused: bool,
    /// Whether Tab reaches it (one tile of the grid).
    tab_stop: bool,
    thumb: Option<AttrValue>,
    caption: Option<AttrValue>,
    on_click: Callback<(u32, bool)>,
    on_like: Callback<u32>,
    on_focus: Callback<usize>,
}

/// One result: a toggle button over its thumbnail (a click or Space cycles the label,
/// `aria-pressed` while relevant, the label in its name and in a badge), its caption, and
/// ≈ for "more like this".
#[component]
fn Tile(props: &TileProps) -> Html {
    let id = props.id;
    let button = use_node_ref();
    {
        let button = button.clone();
        use_effect_with(props.focused, move |&focused| {
            if focused && let Some(button) = button.cast::<web_sys::HtmlElement>() {
                take_focus(&button);
            }
        });
    }
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
    // Enter and Space on ≈ are its own, not the grid's (Enter there fine-tunes).
    let like_keys = Callback::from(|e: KeyboardEvent| {
        if matches!(e.key().as_str(), "Enter" | " ") {
            e.stop_propagation();
        }
    });
    let onfocus = {
        let on_focus = props.on_focus.clone();
        let position = props.position;
        Callback::from(move |_: FocusEvent| on_focus.emit(position))
    };
    let caption = props
        .caption
        .clone()
        .unwrap_or_else(|| format!("image {id}").into());
    let tabindex = if props.tab_stop { "0" } else { "-1" };
    html! {
        // The figure takes the click, so a click on the caption labels too; the button's
        // click (mouse, Space) reaches it by bubbling.
        <figure
            class={classes!("tile", props.label.as_str(), props.focused.then_some("focus"))}
            data-testid="result" data-id={id.to_string()} data-label={props.label.as_str()}
            title={caption.clone()} {onclick}>
            <button ref={button} class="pick" type="button" {tabindex} {onfocus}
                aria-pressed={(props.label == Label::Relevant).to_string()}
                aria-label={format!("{caption}: {}", props.label.words())}>
                if let Some(thumb) = &props.thumb {
                    <img src={thumb.clone()} alt="" loading="lazy" />
                } else {
                    <div class="placeholder">{id}</div>
                }
            </button>
            <figcaption>{caption.clone()}</figcaption>
            <button class="like" data-testid="more-like-this" type="button" {tabindex}
                title="more like this" aria-label={format!("more like {caption}")}
                onclick={like} onkeydown={like_keys}>{"≈"}</button>
        </figure>
    }
}

/// Gives the focused tile's `button` the browser's focus (outlined, scrolled into view)
/// when the keyboard is in the grid, or nowhere (the tile that had it left with its page),
/// so moving with the arrows never takes the focus from another control.
fn take_focus(button: &web_sys::HtmlElement) {
    let in_grid = button
        .closest(".grid")
        .ok()
        .flatten()
        .is_some_and(|grid| grid.matches(":focus-within").unwrap_or(false));
    let nowhere = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .is_none_or(|active| active.tag_name() == "BODY");
    if in_grid || nowhere {
        let _ = button.focus();
        // Whole, not just its first pixels (focus alone may leave it cut by the fold).
        let options = web_sys::ScrollIntoViewOptions::new();
        options.set_block(web_sys::ScrollLogicalPosition::Nearest);
        button.scroll_into_view_with_scroll_into_view_options(&options);
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
