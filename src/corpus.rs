//! Corpus walking.
