//! Renderers: pure functions from a computed result to text.

pub mod dedupe;
pub mod drift;
pub mod inventory;
pub mod validation;

/// A progress bar on standard error, drawn only when it is a terminal.
pub fn progress_bar(what: &'static str) -> indicatif::ProgressBar {
    let pb =
        indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(what);
    pb
}
