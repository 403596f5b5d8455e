//! The ensemble's helper pool: an ensemble round's members train in parts in helper
//! search workers, all at once; the parts then go back to the search worker, which joins
//! them and searches.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use branches::EnsemblePart;
use futures::StreamExt;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_agent::reactor::{ReactorBridge, ReactorSpawner};

use super::state::{EnsembleRound, Msg, Pending};
use super::workers::Sender;
use crate::codec::SerdeWasm;
use crate::index::member_shares;
use crate::net;
use crate::protocol::{Failure, ReplyBody, Task, WorkerReply, WorkerRequest};
use crate::worker::SearchWorker;

/// Workers that train an ensemble's members: the page URL's `workers`, else the
/// browser's cores (`navigator.hardwareConcurrency`) but one, left to the page and the
/// search worker: on 2 cores the split measured slower than one worker (the members of a
/// 100k round train in ~20 ms; the plan's and the parts' trips cost more), so there it
/// stays in one worker.
pub(super) fn ensemble_workers(page_workers: Option<u32>) -> u32 {
    page_workers.unwrap_or_else(|| {
        web_sys::window().map_or(1, |w| {
            (w.navigator().hardware_concurrency() as u32).saturating_sub(1)
        })
    })
}

/// Trains each new ensemble round's members in the helper pool, spawning helpers from
/// `worker_path` as a round needs them, then asks the search worker to join the parts.
#[hook]
pub(super) fn use_ensemble_training(
    round: Option<EnsembleRound>,
    sender: Sender,
    worker_path: String,
    page_workers: Option<u32>,
) {
    let helpers = use_mut_ref(Vec::<ReactorBridge<SearchWorker>>::new);
    use_effect_with(round.as_ref().map(|r| r.seq), move |_| {
        let Some(round) = round else { return };
        let shares = member_shares(round.plan.members(), ensemble_workers(page_workers));
        let mut pool = std::mem::take(&mut *helpers.borrow_mut());
        while pool.len() < shares.len() {
            pool.push(ReactorSpawner::<SearchWorker, SerdeWasm>::new().spawn(&worker_path));
        }
        spawn_local(train_round(pool, helpers, round, shares, sender));
    });
}

/// Trains `round` in `pool`, gives the pool back to `helpers`, and sends the parts to be
/// joined unless the user moved on.
async fn train_round(
    mut pool: Vec<ReactorBridge<SearchWorker>>,
    helpers: Rc<RefCell<Vec<ReactorBridge<SearchWorker>>>>,
    round: EnsembleRound,
    shares: Vec<Range<u32>>,
    sender: Sender,
) {
    let trained = train_parts(&mut pool, &round, shares).await;
    *helpers.borrow_mut() = pool;
    if sender.seq.get() != round.seq {
        return; // the user moved on
    }
    match trained {
        Ok(parts) => sender.send(
            Task::Join {
                plan: (*round.plan).clone(),
                parts,
                train_ms: net::now_ms() - round.started_ms,
                labelled: round.labelled.clone(),
            },
            Pending::FineTune,
        ),
        Err(failure) => sender.state.dispatch(Msg::Reply(WorkerReply {
            seq: round.seq,
            body: ReplyBody::Failed(failure),
        })),
    }
}

/// Trains `round`'s members in parts, share `k` in helper `pool[k]`, all at once.
async fn train_parts(
    pool: &mut [ReactorBridge<SearchWorker>],
    round: &EnsembleRound,
    shares: Vec<Range<u32>>,
) -> Result<Vec<EnsemblePart>, Failure> {
    let trainings = pool
        .iter_mut()
        .zip(shares)
        .map(|(helper, members)| async move {
            helper.send_input(WorkerRequest {
                seq: round.seq,
                task: Task::TrainMembers {
                    plan: (*round.plan).clone(),
                    members,
                },
            });
            while let Some(reply) = helper.next().await {
                match reply.body {
                    ReplyBody::Part(part) if reply.seq == round.seq => return Ok(part),
                    ReplyBody::Failed(failure) if reply.seq == round.seq => return Err(failure),
                    _ => {}
                }
            }
            Err(Failure::new(
                "training ensemble members",
                "a helper worker stopped",
                "reload the page",
            ))
        });
    futures::future::join_all(trainings)
        .await
        .into_iter()
        .collect()
}
