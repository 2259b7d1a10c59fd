//! Data: where utterances come from, how they are split, and what features they become.
//!
//! * [`ravdess`]: the RAVDESS file-name scheme and the dataset's own folder layout;
//! * [`manifest`]: a list of per-utterance feature files (Emotion2Vec `.npy` from FunASR) or
//!   audio files with labels;
//! * [`split`]: the reference split, a speaker-independent split and speaker k-fold;
//! * [`features`]: audio → CustomFeature (312), log-mel frames (64) or Emotion2Vec (768), and
//!   the in-memory [`FeatureSet`] the trainer reads.

pub mod features;
pub mod manifest;
pub mod ravdess;
pub mod split;

pub use features::{AudioPrep, Example, FeatureKind, FeatureSet};
pub use manifest::{ManifestEntry, parse_manifest, read_manifest};
pub use ravdess::{RavdessName, VocalChannel, scan_ravdess};
pub use split::{Split, SplitIndices};

use std::path::PathBuf;

/// One labelled utterance before feature extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// Audio file, or a precomputed feature file (`.npy`).
    pub path: PathBuf,
    /// Class index.
    pub label: usize,
    /// Speaker identity (RAVDESS actor number, or the manifest's speaker column).
    pub speaker: String,
}
