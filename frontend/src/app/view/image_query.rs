//! Search by an image of the user's own: a file picker beside the query box
//! (`data-testid=image-file`), a file dropped anywhere on the app, or an image pasted.
//! Offered only for datasets that ship an image encoder.

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{File, HtmlInputElement};
use yew::prelude::*;

use crate::app::state::{Msg, State};
use crate::app::workers::Sender;
use crate::net::describe;
use crate::protocol::Failure;

/// The largest image file searched by: a camera's photo is a few MB; more is refused before
/// it is read, not held by the page and the worker.
const MAX_IMAGE_BYTES: f64 = 64.0 * 1024.0 * 1024.0;

/// The file picker, or nothing for a dataset without an image encoder.
pub(super) fn picker(state: &UseReducerHandle<State>, sender: &Sender) -> Html {
    if !offered(state) {
        return html! {};
    }
    let on_change = {
        let state = state.clone();
        let sender = sender.clone();
        Callback::from(move |e: Event| {
            let Some(input) = e.target_dyn_into::<HtmlInputElement>() else {
                return;
            };
            if let Some(file) = input.files().and_then(|files| files.get(0)) {
                search_file(state.clone(), sender.clone(), file);
            }
            // The same file may be picked again.
            input.set_value("");
        })
    };
    html! {
        <label class="image-query" title="search by an image of your own (or drop or paste one)">
            {"or an image "}
            <input data-testid="image-file" type="file" accept="image/*"
                aria-label="search by an image of your own" disabled={!state.can_send()}
                onchange={on_change} />
        </label>
    }
}

/// Handlers for the app's root: an image file dropped on it is searched by.
pub(super) fn on_drop(
    state: &UseReducerHandle<State>,
    sender: &Sender,
) -> (Callback<DragEvent>, Callback<DragEvent>) {
    let over = {
        let state = state.clone();
        Callback::from(move |e: DragEvent| {
            if offered(&state) && carries_files(&e) {
                // Without this the browser opens the file instead of dropping it here.
                e.prevent_default();
            }
        })
    };
    let drop = {
        let state = state.clone();
        let sender = sender.clone();
        Callback::from(move |e: DragEvent| {
            if !offered(&state) {
                return;
            }
            let file = e
                .data_transfer()
                .and_then(|transfer| transfer.files())
                .and_then(|files| files.get(0));
            if let Some(file) = file {
                e.prevent_default();
                search_file(state.clone(), sender.clone(), file);
            }
        })
    };
    (over, drop)
}

/// Listens for pastes on the document while the app is shown: a pasted image (a copied
/// picture or file) is searched by, unless it is pasted into a text field.
#[hook]
pub(super) fn use_image_paste(state: UseReducerHandle<State>, sender: Sender) {
    // The latest state and sender, for a listener added once.
    let latest = use_mut_ref(|| (state.clone(), sender.clone()));
    *latest.borrow_mut() = (state, sender);
    use_effect_with((), move |()| {
        let listener =
            Closure::<dyn Fn(web_sys::ClipboardEvent)>::new(move |e: web_sys::ClipboardEvent| {
                let (state, sender) = latest.borrow().clone();
                if !offered(&state) || pasted_into_text(&e) {
                    return;
                }
                let file = e
                    .clipboard_data()
                    .and_then(|data| data.files())
                    .and_then(|files| files.get(0))
                    .filter(|file| file.type_().starts_with("image/"));
                if let Some(file) = file {
                    e.prevent_default();
                    search_file(state, sender, file);
                }
            });
        let document = web_sys::window().and_then(|w| w.document());
        if let Some(document) = &document {
            let _ = document
                .add_event_listener_with_callback("paste", listener.as_ref().unchecked_ref());
        }
        move || {
            if let Some(document) = &document {
                let _ = document.remove_event_listener_with_callback(
                    "paste",
                    listener.as_ref().unchecked_ref(),
                );
            }
        }
    });
}

fn offered(state: &State) -> bool {
    state
        .dataset
        .as_ref()
        .is_some_and(|d| d.manifest.image.is_some() && d.manifest.text.is_some())
}

fn carries_files(e: &DragEvent) -> bool {
    e.data_transfer()
        .is_some_and(|transfer| transfer.types().includes(&"Files".into(), 0))
}

fn pasted_into_text(e: &web_sys::ClipboardEvent) -> bool {
    e.target()
        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|element| matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA"))
}

/// Reads `file` and searches by it; a file too big or unreadable says so.
fn search_file(state: UseReducerHandle<State>, sender: Sender, file: File) {
    let name = file.name();
    let what = format!("searching by {name}");
    let fail = move |message: String| {
        Msg::Error(Failure::new(
            what.clone(),
            message,
            "use a JPEG, PNG, WebP, GIF or BMP file the browser can show",
        ))
    };
    if file.size() > MAX_IMAGE_BYTES {
        sender.state.dispatch(fail(format!(
            "the file is {:.0} MB, over the {:.0} MB an image query may be",
            file.size() / 1e6,
            MAX_IMAGE_BYTES / 1e6
        )));
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
            Ok(buffer) => {
                let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                sender.state.dispatch(Msg::DismissError);
                sender.search_image(&state, name, bytes);
            }
            Err(e) => sender.state.dispatch(fail(describe(&e))),
        }
    });
}
