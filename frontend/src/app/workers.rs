//! Messaging with the workers: [`Sender`] numbers each request, tells the state what it
//! waits for and starts queries; [`use_wanted_search`] runs the search a shared URL or the
//! element's `query` asks for; [`TextLink`] connects to the text worker only for a dataset
//! that has a text encoder, so its wasm (burn) loads only then.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use yew::prelude::*;
use yew_agent::reactor::{ReactorEvent, UseReactorBridgeHandle, use_reactor_bridge};

use super::embed::Embed;
use super::state::{Msg, Pending, Retry, State, TextState};
use crate::net;
use crate::protocol::{
    Failure, LIFELINE_SEQ, Task, TextBody, TextReply, TextRequest, TextTask, WorkerRequest,
};
use crate::session::{FIRST_RESULTS, Query};
use crate::share::SharedSearch;
use crate::text::TextWorker;
use crate::worker::SearchWorker;

/// Sends requests to the workers, numbering them.
#[derive(Clone)]
pub(super) struct Sender {
    pub(super) bridge: UseReactorBridgeHandle<SearchWorker>,
    /// The latest request's number (shared by both workers).
    pub(super) seq: Rc<Cell<u32>>,
    pub(super) state: UseReducerDispatcher<State>,
    /// The text worker's bridge, once a dataset with a text encoder is open.
    pub(super) text: Rc<RefCell<Option<UseReactorBridgeHandle<TextWorker>>>>,
    /// The text or image being encoded: its query goes to the search worker when it
    /// arrives.
    pub(super) encoding: Rc<RefCell<Option<Query>>>,
    /// The latest text or image encoded, which "more results" asks for again.
    pub(super) encoded: Rc<RefCell<Option<Encoded>>>,
    /// The latest request to the search worker, which `retry` sends again.
    pub(super) last_sent: Rc<RefCell<Option<(Task, Pending)>>>,
}

/// A text or image and its query on the index's grid.
pub(super) struct Encoded {
    source: Query,
    query: Vec<u8>,
}

impl Sender {
    /// Sends `task` to the search worker; the state waits for `pending`.
    pub(super) fn send(&self, task: Task, pending: Pending) {
        let seq = self.next_seq();
        // Reopening in a restarted worker is no request of the user's to retry.
        if pending != Pending::Reopen {
            *self.last_sent.borrow_mut() = Some((task.clone(), pending.clone()));
        }
        self.state.dispatch(Msg::Sent(seq, pending));
        self.bridge.send(WorkerRequest { seq, task });
    }

    /// Sends the request that failed again (`what` says which worker's): the workers keep
    /// every file they verified, so it fetches only what is still missing.
    pub(super) fn retry(&self, state: &State, what: Retry) {
        self.state.dispatch(Msg::DismissError);
        match what {
            Retry::Search => {
                let last = self.last_sent.borrow().clone();
                if let Some((task, pending)) = last {
                    self.send(task, pending);
                }
            }
            Retry::TextLoad => {
                if let Some(load) = state.text_load() {
                    self.send_text(load);
                }
            }
        }
    }

    fn next_seq(&self) -> u32 {
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        seq
    }

    /// Sends `task` to the text worker; false when there is none.
    pub(super) fn send_text(&self, task: TextTask) -> bool {
        let Some(bridge) = self.text.borrow().clone() else {
            return false;
        };
        let seq = self.next_seq();
        // An image's name is set by `search_image`, which has it.
        if let TextTask::Encode { text } = &task {
            *self.encoding.borrow_mut() = Some(Query::Text(text.clone()));
        }
        self.state.dispatch(match task {
            TextTask::EncodeImage { .. } => Msg::ImageSent(seq),
            _ => Msg::TextSent(seq, matches!(task, TextTask::Load { .. })),
        });
        bridge.send(TextRequest { seq, task });
        true
    }

    /// Starts `query`: k-NN for "more like this"; text needs the dataset's text encoder.
    pub(super) fn run_query(&self, state: &State, query: Query) {
        if state.dataset.is_none() {
            return;
        }
        match query {
            Query::Like(id) => self.send(
                Task::MoreLikeThis {
                    id,
                    k: FIRST_RESULTS,
                },
                Pending::Knn(Query::Like(id)),
            ),
            Query::Text(text) => {
                if let Some(refusal) = state.text_search_refusal(&text) {
                    self.state.dispatch(Msg::Error(refusal));
                } else if !self.send_text(TextTask::Encode { text }) {
                    self.state.dispatch(Msg::Error(Failure::new(
                        "text search",
                        "the text worker is not connected yet",
                        "try again in a moment",
                    )));
                }
            }
            // An image query starts from its file ([`Self::search_image`]).
            Query::None | Query::Saved | Query::Image(_) => {}
        }
    }

    /// Searches the neighbours of the image file `bytes` called `name`, encoded by the
    /// dataset's image encoder in the text worker.
    pub(super) fn search_image(&self, state: &State, name: String, bytes: Vec<u8>) {
        let Some(dataset) = &state.dataset else {
            return;
        };
        let Some(encoder) = dataset.manifest.image.clone() else {
            self.state.dispatch(Msg::Error(Failure::new(
                "search by image",
                format!("dataset {} has no image encoder", dataset.name),
                "rebuild it with precompute build (without --image-precision none)",
            )));
            return;
        };
        let task = TextTask::EncodeImage {
            base: dataset.base.clone(),
            encoder,
            bytes,
        };
        if self.send_text(task) {
            *self.encoding.borrow_mut() = Some(Query::Image(name));
        } else {
            self.state.dispatch(Msg::Error(Failure::new(
                "search by image",
                "the text worker, which encodes images too, is not connected",
                "open a dataset with a text encoder, or try again in a moment",
            )));
        }
    }

    /// Asks for the next neighbours of the session's query ("more results"), if its results
    /// are a neighbour list that is not the whole collection.
    pub(super) fn more_results(&self, state: &State) {
        let Some(k) = state.more_results_k() else {
            return;
        };
        let query = state.session.query.clone();
        let task = match &query {
            Query::Like(id) => Task::MoreLikeThis { id: *id, k },
            Query::Text(_) | Query::Image(_) => match &*self.encoded.borrow() {
                Some(encoded) if encoded.source == query => Task::Nearest {
                    query: encoded.query.clone(),
                    k,
                },
                _ => return,
            },
            Query::None | Query::Saved => return,
        };
        self.send(task, Pending::More(query));
    }

    /// A text worker reply: an encoded query goes on to the search worker as k-NN.
    pub(super) fn on_text_reply(&self, reply: TextReply) {
        let encoded = match &reply.body {
            TextBody::Encoded { query, .. } => Some(query.clone()),
            _ => None,
        };
        self.state.dispatch(Msg::Text(reply));
        // Only an encoded query consumes the pending text (a load may answer in between).
        if let Some(query) = encoded
            && let Some(source) = self.encoding.borrow_mut().take()
        {
            *self.encoded.borrow_mut() = Some(Encoded {
                source: source.clone(),
                query: query.clone(),
            });
            self.send(
                Task::Nearest {
                    query,
                    k: FIRST_RESULTS,
                },
                Pending::Knn(source),
            );
        }
    }
}

/// Runs the search a shared URL (or the element's `query`) wants once the dataset is open;
/// a new `query` attribute is wanted the same way, and an element's query runs again on
/// each dataset its `dataset` attribute opens. A wanted text shows in the query box.
#[hook]
pub(super) fn use_wanted_search(
    state: UseReducerHandle<State>,
    sender: Sender,
    embed: Option<Embed>,
    query_text: UseStateHandle<String>,
) {
    let element_query = embed.as_ref().and_then(|e| e.query.clone());
    // The element's `query` attribute: a new value is wanted like a shared URL's query.
    {
        let dispatch = state.dispatcher();
        let first = use_mut_ref(|| true);
        use_effect_with(element_query.clone(), move |query| {
            // The first value is already wanted (`State::new`).
            if !std::mem::replace(&mut *first.borrow_mut(), false)
                && let Some(text) = query
            {
                dispatch.dispatch(Msg::Want(SharedSearch::text(text.clone())));
            }
        });
    }
    let started = use_mut_ref(|| (0u32, None::<String>));
    // A text query also waits for the text worker's bridge (its load is queued first).
    let linked = state.text_load_seq != 0 || state.text == TextState::Absent;
    let opened = embed
        .as_ref()
        .and(state.dataset.as_ref())
        .map(|d| d.base.clone());
    // The wanted search is consumed by its first results; a reopen reruns the attribute.
    use_effect_with(
        (state.ready, linked, state.wanted, opened),
        move |(ready, linked, wanted, opened)| {
            let run = (*wanted, opened.clone());
            if *ready
                && *linked
                && *started.borrow() != run
                && let Some(shared) = state
                    .url_search
                    .clone()
                    .or_else(|| element_query.map(SharedSearch::text))
            {
                *started.borrow_mut() = run;
                if let Query::Text(text) = &shared.query {
                    query_text.set(text.clone());
                }
                sender.run_query(&state, shared.query.clone());
            }
        },
    );
}

#[derive(Properties, PartialEq)]
pub(super) struct TextLinkProps {
    /// Called at mount with the bridge and the lifeline its worker holds.
    pub(super) on_bridge: Callback<(UseReactorBridgeHandle<TextWorker>, String)>,
    pub(super) on_reply: Callback<TextReply>,
    /// The start of the Web Lock the worker holds for life (unique to the page); each
    /// link adds its own part.
    pub(super) lifeline: AttrValue,
    /// Called with the lifeline once the worker has ended: unless the link was let go (the
    /// page opened another dataset), the page renders a fresh link (a new key), whose
    /// private worker loads the encoder again.
    pub(super) on_stopped: Callback<String>,
}

/// Connects to a text worker of its own (private) and gives it a lifeline; rendered only
/// for a dataset with a text encoder, so the text worker (and burn's wasm) loads only then.
#[component]
pub(super) fn TextLink(props: &TextLinkProps) -> Html {
    let on_reply = props.on_reply.clone();
    let on_stopped = props.on_stopped.clone();
    let bridge = use_reactor_bridge::<TextWorker, _>(move |event| {
        let ReactorEvent::Output(reply) = event else {
            return;
        };
        match reply.body {
            TextBody::LifelineHeld { lock } if reply.seq == LIFELINE_SEQ => {
                let on_stopped = on_stopped.clone();
                // Without Web Locks (an insecure embedding page) nothing watches.
                let _ = net::when_released(&lock.clone(), move || on_stopped.emit(lock));
            }
            _ => on_reply.emit(reply),
        }
    });
    let on_bridge = props.on_bridge.clone();
    // Drawn once: the link's worker holds this lock for life.
    let lock = (*use_memo((), |_| format!("{}-{:x}", props.lifeline, net::random_id()))).clone();
    use_effect_with((), move |_| {
        bridge.send(TextRequest {
            seq: LIFELINE_SEQ,
            task: TextTask::HoldLifeline { lock: lock.clone() },
        });
        on_bridge.emit((bridge, lock));
    });
    Html::default()
}
