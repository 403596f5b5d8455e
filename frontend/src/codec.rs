//! Messages between the app and its workers as plain JS values (serde-wasm-bindgen)
//! instead of yew-agent's default bincode: readable in the browser's devtools and no
//! second serialisation format in the bundle.

use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsValue, UnwrapThrowExt};

/// The [`yew_agent::Codec`] of every worker of the app.
#[derive(Debug)]
pub struct SerdeWasm;

impl yew_agent::Codec for SerdeWasm {
    fn encode<I: Serialize>(input: I) -> JsValue {
        // The protocol's types hold strings, integers below 2^53 and floats: always encodable.
        serde_wasm_bindgen::to_value(&input).expect_throw("a worker message is always encodable")
    }

    fn decode<O: for<'de> Deserialize<'de>>(input: JsValue) -> O {
        // Both ends are this crate's build, so a message decodes unless the bundle is mixed.
        serde_wasm_bindgen::from_value(input)
            .expect_throw("a worker message of another build: reload the page")
    }
}
