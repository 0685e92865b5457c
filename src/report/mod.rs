//! Renderers: pure functions from a computed result to text.

pub mod dedupe;
pub mod drift;
pub mod inventory;
pub mod validation;

/// A progress bar on standard error, drawn only when it is a terminal.
pub fn progress_bar(what: &'static str) -> indicatif::ProgressBar {
    // Hidden until its length is known ([`show_progress`]): a first frame at 0/0 is a full bar.
    let pb =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(what);
    pb
}

/// Give a [`progress_bar`] its length and start drawing it (on a terminal only).
pub fn show_progress(pb: &indicatif::ProgressBar, len: usize) {
    pb.set_length(len as u64);
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
}
