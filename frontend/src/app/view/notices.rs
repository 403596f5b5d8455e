//! The error panel (what failed, why, what to do) and the progress line.

use yew::prelude::*;

use crate::app::state::{Msg, Retry, State};
use crate::app::workers::Sender;

/// The error panel, if anything failed (with a retry for a request that can be sent
/// again), and the progress line, if anything is loading.
pub(super) fn view(state: &UseReducerHandle<State>, sender: &Sender) -> Html {
    let dismiss = {
        let dispatch = state.dispatcher();
        Callback::from(move |_: MouseEvent| dispatch.dispatch(Msg::DismissError))
    };
    let retry = state.retry.map(|what| {
        let sender = sender.clone();
        let state = state.clone();
        Callback::from(move |_: MouseEvent| sender.retry(&state, what))
    });
    html! {
        <>
            if let Some(f) = &state.error {
                <div class="error" data-testid="error" role="alert">
                    <b>{format!("{} failed: ", f.what)}</b>{&f.message}
                    <div class="hint">{&f.hint}</div>
                    if let Some(retry) = retry {
                        // A search retry waits for a restarted worker to reopen the dataset.
                        <button data-testid="retry" onclick={retry}
                            disabled={state.retry == Some(Retry::Search) && !state.can_send()}>{"retry"}</button>
                    }
                    <button data-testid="dismiss-error" onclick={dismiss}>{"dismiss"}</button>
                </div>
            }
            if let Some(p) = &state.progress {
                <div class="progress" data-testid="progress">
                    <progress max="100" value={format!("{:.0}", p.percent())} />
                    {format!(" {}: {}/{} files, {}", p.what, p.files_done, p.files_total, p.describe())}
                </div>
            } else if state.encoding_image {
                <div class="progress" data-testid="progress">{"encoding the image…"}</div>
            } else if state.pending.is_some() {
                <div class="progress" data-testid="progress">{"working…"}</div>
            } else if state.grid().len() < state.session.shown().len() {
                <div class="progress" data-testid="progress">{"loading captions…"}</div>
            }
        </>
    }
}
