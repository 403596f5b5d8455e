//! The search worker's entry point (frontend/build.sh's worker bundle): registers the reactor.

fn main() {
    #[cfg(target_family = "wasm")]
    frontend::worker::register();
}
