//! Progress of the long stages (the folder walk, downloads, thumbnails), reported through
//! [`Progress`] so that tests run silent and the CLI draws bars.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Receives the progress of a run's stages, from several threads at once.
pub trait Progress: Sync {
    /// A stage of `total` steps starts.
    fn begin(&self, stage: &str, total: u64);
    /// A stage whose number of steps is not known beforehand starts (a folder walk).
    fn begin_uncounted(&self, stage: &str);
    /// `steps` more steps of the current stage are done.
    fn advance(&self, steps: u64);
    /// The current stage is over.
    fn end(&self);
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _stage: &str, _total: u64) {}
    fn begin_uncounted(&self, _stage: &str) {}
    fn advance(&self, _steps: u64) {}
    fn end(&self) {}
}

/// Draws one indicatif bar per stage on stderr: count, rate and ETA (count and rate for a
/// stage of unknown length).
#[derive(Debug, Default)]
pub struct BarProgress {
    bar: Mutex<Option<ProgressBar>>,
}

impl BarProgress {
    fn start(&self, bar: ProgressBar, stage: &str, template: &str) {
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar.set_message(stage.to_owned());
        // Drawn from the start and five times a second, however slow the steps.
        bar.enable_steady_tick(Duration::from_millis(200));
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }
}

impl Progress for BarProgress {
    fn begin(&self, stage: &str, total: u64) {
        self.start(
            ProgressBar::new(total),
            stage,
            "{msg:>11} [{bar:30}] {pos}/{len} {per_sec:>11} ETA {eta} ({elapsed})",
        );
    }

    /// A count and its rate, without a bar.
    fn begin_uncounted(&self, stage: &str) {
        self.start(
            ProgressBar::no_length(),
            stage,
            "{msg:>11} {spinner} {pos} {per_sec:>11} ({elapsed})",
        );
    }

    fn advance(&self, steps: u64) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            bar.inc(steps);
        }
    }

    fn end(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish();
        }
    }
}
