//! The [`Main`] component: it holds the page's [`State`], wires the workers and the loading
//! hooks, and draws the screen from one view function per part:
//! [`header`] (dataset, query, backend), [`notices`] (error panel, progress),
//! [`controls`] (labels, settings, fine-tune, undo), [`results`] (status, grid, pager,
//! rules) and [`share`] (export, saved searches).

mod controls;
mod header;
mod image_query;
mod notices;
mod results;
mod share;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use branches::Searcher;
use yew::prelude::*;
use yew_agent::reactor::{ReactorEvent, UseReactorBridgeHandle, use_reactor_bridge};

use super::embed::Embed;
use super::ensemble::{ensemble_workers, use_ensemble_training};
use super::loading::{use_item_chunks, use_opening};
use super::page::{shared_from_url, url_params, use_url_following};
use super::state::{Msg, Pending, State};
use super::workers::{Sender, TextLink, use_wanted_search};
use crate::net;
use crate::protocol::{LIFELINE_SEQ, ReplyBody, Task, TextReply, WorkerRequest};
use crate::session::Action;
use crate::share::SharedSearch;
use crate::text::TextWorker;
use crate::worker::SearchWorker;

#[derive(Properties, PartialEq)]
pub(super) struct MainProps {
    pub(super) embed: Option<Embed>,
    pub(super) assets: AttrValue,
}

#[component]
pub(super) fn Main(props: &MainProps) -> Html {
    let state = {
        let embed = props.embed.clone();
        use_reducer(move || match embed {
            Some(embed) => State::new(embed.query.map(SharedSearch::text)),
            None => State::new(shared_from_url(&url_params()).ok()),
        })
    };
    let counter = use_memo((), |_| Rc::new(Cell::new(0u32)));
    // The search worker's bridge of the latest render, for the lifeline's callback.
    let latest_bridge = use_mut_ref(|| None::<UseReactorBridgeHandle<SearchWorker>>);
    let bridge = {
        let dispatch = state.dispatcher();
        let latest_bridge = latest_bridge.clone();
        use_reactor_bridge::<SearchWorker, _>(move |event| {
            let ReactorEvent::Output(reply) = event else {
                return;
            };
            if reply.seq != LIFELINE_SEQ {
                dispatch.dispatch(Msg::Reply(reply));
            } else if let ReplyBody::LifelineHeld { lock } = reply.body {
                watch_lifeline(&lock, latest_bridge.clone(), dispatch.clone());
            }
        })
    };
    *latest_bridge.borrow_mut() = Some(bridge.clone());
    let text_bridge = use_mut_ref(|| None);
    let encoding = use_mut_ref(|| None);
    let encoded = use_mut_ref(|| None);
    let last_sent = use_mut_ref(|| None);
    let sender = Sender {
        bridge,
        seq: (*counter).clone(),
        state: state.dispatcher(),
        text: text_bridge,
        encoding,
        encoded,
        last_sent,
    };
    // The page URL's `workers` (how many workers train an ensemble's members; default the
    // browser's cores), read once.
    let page_workers = *use_memo((), |_| {
        url_params()
            .iter()
            .find(|(n, _)| n == "workers")
            .and_then(|(_, v)| v.parse::<u32>().ok())
    });
    let query_text = use_state(String::new);
    let share_inputs = share::ShareInputs {
        saved_text: use_state(String::new),
        name: use_state(String::new),
        stored: share::use_stored_searches(),
    };

    // Unique to this page (several tabs, several elements), then to each worker.
    let page = *use_memo((), |_| net::random_id());
    use_lifeline(&state, &sender, page);
    use_opening(
        sender.clone(),
        props.embed.as_ref().map(|e| e.source.clone()),
    );
    use_wanted_search(
        state.clone(),
        sender.clone(),
        props.embed.clone(),
        query_text.clone(),
    );
    use_host_page(state.clone(), props.embed.clone());
    use_ensemble_training(
        state.ensemble.clone(),
        sender.clone(),
        format!("{}worker.js", props.assets),
        page_workers,
    );
    use_item_chunks(state.clone());
    image_query::use_image_paste(state.clone(), sender.clone());
    use_url_following(
        state.shared(),
        state.catalog_url.clone(),
        state.ready && props.embed.is_none(),
    );

    let fine_tune = {
        let state = state.clone();
        let sender = sender.clone();
        Callback::from(move |()| {
            if !state.can_send() {
                return;
            }
            let request = state.search_request();
            if request.searcher == Searcher::Ensemble && ensemble_workers(page_workers) > 1 {
                sender.send(Task::PlanEnsemble { request }, Pending::Plan(net::now_ms()));
            } else {
                sender.send(Task::FineTune { request }, Pending::FineTune);
            }
        })
    };
    // The lifeline of the text worker linked last: a link let go for another dataset ends
    // its worker too, which is no stop to act on.
    let current_text_lifeline = use_mut_ref(|| None::<String>);
    let on_text_bridge = {
        let sender = sender.clone();
        let state = state.clone();
        let current = current_text_lifeline.clone();
        Callback::from(
            move |(bridge, lifeline): (UseReactorBridgeHandle<TextWorker>, String)| {
                *current.borrow_mut() = Some(lifeline);
                *sender.text.borrow_mut() = Some(bridge);
                if let Some(load) = state.text_load() {
                    sender.send_text(load);
                }
            },
        )
    };
    let on_text_reply = {
        let sender = sender.clone();
        Callback::from(move |reply: TextReply| sender.on_text_reply(reply))
    };
    let on_text_stopped = {
        let sender = sender.clone();
        Callback::from(move |lock: String| {
            if current_text_lifeline.borrow().as_ref() != Some(&lock) {
                return;
            }
            *sender.text.borrow_mut() = None;
            let encoding = sender.encoding.borrow_mut().take().is_some();
            sender.state.dispatch(Msg::TextWorkerStopped { encoding });
        })
    };
    // A new key for each fresh text worker: the link is made anew.
    let text_link = state
        .dataset
        .as_ref()
        .filter(|d| d.manifest.text.is_some())
        .map(|d| format!("{}#{}", d.base, state.text_restarts));

    // The page's main landmark, unless embedded: the host page has its own.
    let main_role = props.embed.is_none().then_some("main");
    let (on_drag_over, on_drop) = image_query::on_drop(&state, &sender);
    html! {
        <div class="app" ondragover={on_drag_over} ondrop={on_drop}>
            { header::view(&state, &sender, &query_text) }
            if let Some(key) = text_link {
                <TextLink {key} on_bridge={on_text_bridge} on_reply={on_text_reply}
                    lifeline={format!("clip-branches-text-worker-{page:x}")}
                    on_stopped={on_text_stopped} />
            }
            <div role={main_role}>
                { notices::view(&state, &sender) }
                { controls::view(&state, &fine_tune) }
                { results::view(&state, &sender, &fine_tune) }
                { share::view(&state, &sender, &share_inputs) }
            </div>
        </div>
    }
}

/// Gives each search worker a lifeline (the first at mount, then each restarted one), and
/// has a restarted worker open the dataset again.
#[hook]
fn use_lifeline(state: &UseReducerHandle<State>, sender: &Sender, page: u64) {
    let state = state.clone();
    let sender = sender.clone();
    use_effect_with(state.worker_restarts, move |&restarts| {
        let lock = format!("clip-branches-search-worker-{page:x}-{restarts}");
        sender.bridge.send(WorkerRequest {
            seq: LIFELINE_SEQ,
            task: Task::HoldLifeline { lock },
        });
        if restarts > 0
            && let Some(dataset) = &state.dataset
        {
            let task = Task::Open {
                base: dataset.base.clone(),
                index: dataset.manifest.index.clone(),
            };
            sender.send(task, Pending::Reopen);
        }
    });
}

/// Once the worker holding `lock` has ended, resets the bridge (a fresh worker: the search
/// worker's provider is private) and tells the state. Without Web Locks (an insecure
/// embedding page) nothing watches: a worker that ends is not restarted there.
fn watch_lifeline(
    lock: &str,
    latest_bridge: Rc<RefCell<Option<UseReactorBridgeHandle<SearchWorker>>>>,
    dispatch: UseReducerDispatcher<State>,
) {
    let _ = net::when_released(lock, move || {
        if let Some(bridge) = latest_bridge.borrow().as_ref() {
            bridge.reset();
        }
        dispatch.dispatch(Msg::WorkerStopped);
    });
}

/// A callback that changes the query session with the action its event stands for.
fn session_callback<E: 'static>(
    state: &UseReducerHandle<State>,
    action: impl Fn(E) -> Action + 'static,
) -> Callback<E> {
    let dispatch = state.dispatcher();
    Callback::from(move |event: E| dispatch.dispatch(Msg::Session(action(event))))
}

/// Embedded: the element's `searcher` attribute sets the next rounds' searcher, and the
/// host page is told of every result list shown ([`Embed::tell_host`]).
#[hook]
fn use_host_page(state: UseReducerHandle<State>, embed: Option<Embed>) {
    let searcher = embed.as_ref().and_then(|e| e.searcher);
    {
        let state = state.clone();
        use_effect_with(searcher, move |searcher| {
            if let Some(searcher) = *searcher {
                let mut settings = state.settings;
                settings.searcher = searcher;
                state.dispatch(Msg::Settings(settings));
            }
        });
    }
    let shown = state.session.results_shown;
    use_effect_with(shown, move |&shown| {
        if let Some(embed) = &embed
            && shown > 0
        {
            embed.tell_host(&state);
        }
    });
}
