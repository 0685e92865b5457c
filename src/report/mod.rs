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

#[cfg(test)]
mod tests {
    /// The bar draws nothing until its length is known (its first frame was a full bar at 0/0).
    #[test]
    fn progress_is_hidden_until_its_length_is_known() {
        let pb = super::progress_bar("t");
        assert!(pb.is_hidden());
        assert_eq!(pb.length(), None);
        super::show_progress(&pb, 3);
        assert_eq!(pb.length(), Some(3));
    }
}
