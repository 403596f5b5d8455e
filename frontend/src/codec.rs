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
        // 64-bit integers (an ensemble plan's member seeds use all 64 bits) go as BigInt,
        // which `from_value` reads back; strings, other integers and floats always encode.
        let serializer =
            serde_wasm_bindgen::Serializer::new().serialize_large_number_types_as_bigints(true);
        input
            .serialize(&serializer)
            .expect_throw("a worker message is always encodable")
    }

    fn decode<O: for<'de> Deserialize<'de>>(input: JsValue) -> O {
        // Both ends are this crate's build, so a message decodes unless the bundle is mixed.
        serde_wasm_bindgen::from_value(input)
            .expect_throw("a worker message of another build: reload the page")
    }
}
