//! The text worker's entry point (frontend/build.sh's text-worker bundle): registers the reactor.

fn main() {
    #[cfg(target_family = "wasm")]
    frontend::text::register();
}
