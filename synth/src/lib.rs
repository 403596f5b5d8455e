//! Seeded synthetic captioned scenes: coloured shapes on textured backgrounds, each with a
//! caption that describes it ("two small red stars on the left on a striped blue
//! background"). They make the demo collection and the data the demo CLIP model is
//! trained on, and their ground truth scores retrieval.
//!
//! - [`scene`](mod@scene) and [`generate`]: a [`Scene`] is a [`Description`] (what a caption can say)
//!   plus the seeds of its layout jitter and its wording; scene `i` of a seed depends only
//!   on `(seed, i)`.
//! - [`render`](mod@render): RGB pixels, shapes anti-aliased by 4x4 supersampling.
//! - [`caption`](mod@caption): one of several templates and synonyms, chosen by the scene's wording seed;
//!   [`partial_caption`] names a subset of the attributes, as queries do (training text).
//! - [`concept`]: what a user searches for ("green hearts") and which scenes belong to it.
//!
//! Everything is integer or exactly rounded f32 arithmetic (no trigonometry), so scenes,
//! pixels and captions are identical natively and in wasm.
//!
//! ```
//! let scenes = synth::generate(1, 0..2);
//! let pixels = synth::render(&scenes[0], 64).unwrap();
//! assert_eq!(pixels.len(), 64 * 64 * 3);
//! println!("{}", synth::caption(&scenes[0]));
//! ```

pub mod caption;
pub mod concept;
pub mod render;
pub mod scene;

pub use caption::{caption, partial_caption};
pub use concept::{Concept, ConceptKind};
pub use render::{MAX_SIZE, MIN_SIZE, RenderError, render};
pub use scene::{
    Background, Colour, Count, Description, Position, Scene, Shape, Size, Texture, generate, scene,
};
