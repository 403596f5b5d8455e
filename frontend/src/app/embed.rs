//! The app's entry points: [`start`] mounts it on its own page, [`EmbeddedSearch`] in each
//! `<clip-branches-search>` element (see `frontend/embed.js`); [`App`] provides both
//! workers' bridges to the view.

use branches::Searcher;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::{CustomEvent, CustomEventInit, Element};
use yew::AppHandle;
use yew::prelude::*;
use yew_agent::Reach;
use yew_agent::reactor::ReactorProvider;

use super::state::State;
use super::view::Main;
use crate::codec::SerdeWasm;
use crate::share::searcher_from_name;
use crate::source::DataSource;
use crate::text::TextWorker;
use crate::worker::SearchWorker;

/// Mounts the app on the page's body, unless the page defines the
/// `<clip-branches-search>` element: then the element's script (`clip-branches.js`)
/// mounts one app per element through [`EmbeddedSearch`].
pub fn start() {
    let embedding = web_sys::window()
        .map(|w| w.custom_elements())
        .is_some_and(|registry| !registry.get(ELEMENT_NAME).is_undefined());
    if !embedding {
        yew::Renderer::<App>::with_props(AppProps::default()).render();
    }
}

/// The custom element that embeds the app in another page (see `frontend/embed.js`).
pub const ELEMENT_NAME: &str = "clip-branches-search";

/// Where the app runs: on its own page (state in the page URL) or inside an element.
#[derive(Clone, Debug, Default, PartialEq, Properties)]
pub struct AppProps {
    /// The folder of the app's files (`worker.js`, `text-worker.js`), ending in `/`;
    /// empty: the page's folder.
    pub assets: AttrValue,
    /// Set when embedded: the element's attributes. `None`: the app's own page, which
    /// reads and writes its search in the page URL.
    pub embed: Option<Embed>,
}

/// The `<clip-branches-search>` element's attributes, resolved to absolute URLs.
#[derive(Clone, Debug, PartialEq)]
pub struct Embed {
    /// What to open (the `dataset` attribute).
    pub source: DataSource,
    /// The text query (the `query` attribute); it runs whenever it changes.
    pub query: Option<String>,
    /// The searcher of the next fine-tune rounds (the `searcher` attribute: `db`, `ens`,
    /// `dtree` or `rf`); `None` leaves the app's choice.
    pub searcher: Option<Searcher>,
    /// Where the app is mounted: events for the host page start here.
    pub root: Element,
}

impl Embed {
    /// Tells the host page of the results shown: a `results` event, and after a fine-tune
    /// round a `round` event too, each with a [`super::state::ResultsEvent`] as `detail`.
    /// They bubble out of the element's shadow root (`composed`), so the host listens on
    /// the element itself.
    pub(super) fn tell_host(&self, state: &State) {
        let detail = state.results_event();
        let Ok(detail_value) = serde_wasm_bindgen::to_value(&detail) else {
            return;
        };
        let names: &[&str] = if detail.round > 0 {
            &["results", "round"]
        } else {
            &["results"]
        };
        for name in names {
            let init = CustomEventInit::new();
            init.set_bubbles(true);
            init.set_composed(true);
            init.set_detail(&detail_value);
            if let Ok(event) = CustomEvent::new_with_event_init_dict(name, &init) {
                // A host's listener that throws is the host's business.
                let _ = self.root.dispatch_event(&event);
            }
        }
    }
}

#[component]
fn App(props: &AppProps) -> Html {
    let worker = AttrValue::from(format!("{}worker.js", props.assets));
    let text_worker = AttrValue::from(format!("{}text-worker.js", props.assets));
    html! {
        // Private: the bridge's own worker, so that resetting the bridge (the search worker)
        // or linking anew (the text worker) starts a fresh one when the worker has ended
        // (`Main`'s lifelines).
        <ReactorProvider<SearchWorker, SerdeWasm> path={worker} reach={Reach::Private}>
            <ReactorProvider<TextWorker, SerdeWasm> path={text_worker} reach={Reach::Private}>
                <Main embed={props.embed.clone()} assets={props.assets.clone()} />
            </ReactorProvider<TextWorker, SerdeWasm>>
        </ReactorProvider<SearchWorker, SerdeWasm>>
    }
}

/// One app mounted in a `<clip-branches-search>` element (made by `clip-branches.js`).
#[wasm_bindgen]
pub struct EmbeddedSearch {
    handle: AppHandle<App>,
    props: AppProps,
}

#[wasm_bindgen]
impl EmbeddedSearch {
    /// Mounts an app in `root`. `assets` is the folder of the app's files (ending in
    /// `/`), `dataset` the absolute URL of a catalog.json or a dataset folder
    /// ([`DataSource::from_url`]), `query` the first text query, `searcher` the searcher's
    /// name (`db`, `ens`, `dtree`, `rf`; another name is ignored).
    #[wasm_bindgen(constructor)]
    pub fn new(
        root: Element,
        assets: String,
        dataset: &str,
        query: Option<String>,
        searcher: Option<String>,
    ) -> Self {
        let props = AppProps {
            assets: assets.into(),
            embed: Some(Embed {
                source: DataSource::from_url(dataset),
                query: query.filter(|q| !q.trim().is_empty()),
                searcher: searcher.as_deref().and_then(searcher_from_name),
                root: root.clone(),
            }),
        };
        let handle = yew::Renderer::<App>::with_root_and_props(root, props.clone()).render();
        Self { handle, props }
    }

    /// The `query` attribute changed: runs the new text query.
    pub fn set_query(&mut self, query: Option<String>) {
        if let Some(embed) = &mut self.props.embed {
            embed.query = query.filter(|q| !q.trim().is_empty());
        }
        self.handle.update(self.props.clone());
    }

    /// The `searcher` attribute changed: the next rounds train with it.
    pub fn set_searcher(&mut self, searcher: Option<String>) {
        if let Some(embed) = &mut self.props.embed {
            embed.searcher = searcher.as_deref().and_then(searcher_from_name);
        }
        self.handle.update(self.props.clone());
    }

    /// The `dataset` attribute changed (absolute URL): opens it.
    pub fn set_dataset(&mut self, dataset: &str) {
        if let Some(embed) = &mut self.props.embed {
            embed.source = DataSource::from_url(dataset);
        }
        self.handle.update(self.props.clone());
    }

    /// The element left the page: unmounts the app (its workers end with it).
    pub fn destroy(self) {
        self.handle.destroy();
    }
}
