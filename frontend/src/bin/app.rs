//! The app's entry point (trunk's main bundle): mounts the Yew UI.

fn main() {
    #[cfg(target_family = "wasm")]
    frontend::app::start();
}
