//! Frame-level evaluation of a detector against reference labels.

use serde::{Deserialize, Serialize};

/// Confusion counts and the usual rates for the speech class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameMetrics {
    /// Speech frames labelled speech.
    pub true_positives: usize,
    /// Non-speech frames labelled speech.
    pub false_positives: usize,
    /// Non-speech frames labelled non-speech.
    pub true_negatives: usize,
    /// Speech frames labelled non-speech.
    pub false_negatives: usize,
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Non-speech frames labelled speech, over all non-speech frames.
    pub false_alarm_rate: f64,
}

/// Compares decisions with labels over their common length.
pub fn frame_metrics(decisions: &[bool], labels: &[bool]) -> FrameMetrics {
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    for (&d, &l) in decisions.iter().zip(labels) {
        match (d, l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    FrameMetrics {
        true_positives: tp,
        false_positives: fp,
        true_negatives: tn,
        false_negatives: fn_,
        precision,
        recall,
        f1,
        false_alarm_rate: ratio(fp, fp + tn),
    }
}

/// Area under the ROC curve of `scores` for `labels` (ties counted half), via ranks.
/// `None` if either class is absent.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let n = scores.len().min(labels.len());
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut positives) = (0f64, 0usize);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] {
                rank_sum += avg_rank;
                positives += 1;
            }
        }
        i = j + 1;
    }
    let negatives = n - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    Some((rank_sum - positives as f64 * (positives as f64 + 1.0) / 2.0) / (positives as f64 * negatives as f64))
}
