//! The app's entry point (the main bundle of frontend/build.sh): mounts the Yew UI.

fn main() {
    #[cfg(target_family = "wasm")]
    frontend::app::start();
}
