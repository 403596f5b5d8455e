//! The text worker: a yew-agent reactor that encodes texts into queries on the index's grid
//! with the dataset's CLIP text tower (`encoder`). A worker of its own, so the page never
//! blocks while it runs and the search worker stays small.
//!
//! The app names [`TextWorker`] for its messages only. The encoder (burn and clip) is built
//! with the `text-encoder` feature, which only the text-worker binary turns on: the app and
//! the search worker link neither, and build and load without them.

use yew_agent::reactor::{ReactorScope, reactor};

use crate::protocol::{TextReply, TextRequest};

#[cfg(feature = "text-encoder")]
mod encoder;
#[cfg(feature = "text-encoder")]
mod image;

type Scope = ReactorScope<TextRequest, TextReply>;

/// Registers the reactor in the worker's global scope (the text worker binary's `main`).
#[cfg(feature = "text-encoder")]
pub fn register() {
    use yew_agent::Registrable;
    crate::net::close_on_panic("text worker");
    TextWorker::registrar()
        .encoding::<crate::codec::SerdeWasm>()
        .register();
}

/// The text worker's reactor: without `text-encoder` it is only a name for the app's bridge
/// (it never runs there, because only the text-worker binary registers it).
#[reactor(TextWorker)]
pub async fn text_worker(scope: Scope) {
    #[cfg(feature = "text-encoder")]
    encoder::serve(scope).await;
    #[cfg(not(feature = "text-encoder"))]
    drop(scope);
}
