//! Word-level timestamps as faster-whisper computes them (`word_timestamps=True`): the decoder
//! re-reads each window's text after `<|startoftranscript|><|notimestamps|>`; the
//! cross-attention scores of the alignment heads (config.json) over the window's real frames
//! are softmaxed, standardised per head along the tokens, median-filtered (width 7) along time
//! and averaged over heads; dynamic time warping through that matrix gives each token a time;
//! tokens are grouped into words (a leading space starts a word, punctuation stands alone and is
//! then merged into its neighbour); long first/last words are trimmed against the segment's own
//! timestamps.

use crate::model::{CrossKv, Logits};
use crate::ops::softmax;
use crate::transcribe::Segment;
use crate::{Asr, AsrError};
use serde::Serialize;

/// Width of the median filter over attention frames.
const MEDIAN_FILTER_WIDTH: usize = 7;
/// Encoder frames per second (20 ms each).
const TOKENS_PER_SECOND: f64 = 50.0;
const PREPEND_PUNCTUATIONS: &str = "\"'“¿([{-";
const APPEND_PUNCTUATIONS: &str = "\"'.。,，!！?？:：”)]}、";
const SENTENCE_END_MARKS: &str = ".。!！?？";

/// One word with its time span in the recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Word {
    /// As decoded, with its leading space.
    pub word: String,
    /// Start in the recording, seconds.
    pub start_s: f64,
    /// End in the recording, seconds.
    pub end_s: f64,
    /// Mean probability of its tokens.
    pub probability: f32,
}

#[derive(Debug, Clone)]
struct Timing {
    word: String,
    tokens: Vec<u32>,
    start: f64,
    end: f64,
    probability: f32,
}

/// Dynamic time warping through `cost` `[n, m]` (lower is better), returning the path as
/// `(row, column)` pairs from `(0, 0)` to `(n − 1, m − 1)`; ties prefer the diagonal last, as
/// openai-whisper's `dtw_cpu`.
pub fn dtw(cost: &[f32], n: usize, m: usize) -> Vec<(isize, isize)> {
    let w = m + 1;
    let mut acc = vec![f32::INFINITY; (n + 1) * w];
    let mut trace = vec![0u8; (n + 1) * w];
    acc[0] = 0.0;
    for j in 1..=m {
        for i in 1..=n {
            let (c0, c1, c2) = (acc[(i - 1) * w + j - 1], acc[(i - 1) * w + j], acc[i * w + j - 1]);
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            acc[i * w + j] = cost[(i - 1) * m + j - 1] + c;
            trace[i * w + j] = t;
        }
    }
    let (mut i, mut j) = (n, m);
    let mut path = Vec::new();
    while i > 0 || j > 0 {
        path.push((i as isize - 1, j as isize - 1));
        let t = if i == 0 {
            2
        } else if j == 0 {
            1
        } else {
            trace[i * w + j]
        };
        match t {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    path.reverse();
    path
}

/// Median of a sliding window along `row` with reflected edges.
fn median_filter(row: &[f32], width: usize) -> Vec<f32> {
    let half = width / 2;
    let n = row.len();
    if n <= half {
        return row.to_vec();
    }
    let mut buf = Vec::with_capacity(width);
    (0..n)
        .map(|i| {
            buf.clear();
            for k in 0..width {
                let idx = audio_dsp::features::reflect_index(i as isize + k as isize - half as isize, n);
                buf.push(row[idx]);
            }
            buf.sort_by(f32::total_cmp);
            buf[half]
        })
        .collect()
}

/// The alignment heads' cross-attention, `[n_tok, keep]`: softmax over the first `keep` frames,
/// each frame standardised along tokens, median-filtered along frames, averaged over heads.
fn head_weights(
    scores: &[Vec<f32>],
    alignment_heads: &[[usize; 2]],
    heads: usize,
    ctx: usize,
    n_tok: usize,
    keep: usize,
) -> Result<Vec<f32>, AsrError> {
    let mut mean = vec![0f32; n_tok * keep];
    for &[layer, head] in alignment_heads {
        let Some(s) = scores.get(layer * heads + head) else {
            return Err(AsrError::Model(format!("alignment head [{layer}, {head}] does not exist")));
        };
        // Softmax over the real frames, then standardise each frame column along tokens.
        let mut w = vec![0f32; n_tok * keep];
        for t in 0..n_tok {
            let row = &mut w[t * keep..(t + 1) * keep];
            row.copy_from_slice(&s[t * ctx..t * ctx + keep]);
            softmax(row);
        }
        for f in 0..keep {
            let m = (0..n_tok).map(|t| w[t * keep + f]).sum::<f32>() / n_tok as f32;
            let var = (0..n_tok).map(|t| (w[t * keep + f] - m).powi(2)).sum::<f32>() / n_tok as f32;
            let sd = var.sqrt();
            for t in 0..n_tok {
                w[t * keep + f] = (w[t * keep + f] - m) / sd;
            }
        }
        for t in 0..n_tok {
            let filtered = median_filter(&w[t * keep..(t + 1) * keep], MEDIAN_FILTER_WIDTH);
            for (acc, v) in mean[t * keep..(t + 1) * keep].iter_mut().zip(filtered) {
                *acc += v / alignment_heads.len() as f32;
            }
        }
    }
    Ok(mean)
}

impl Asr {
    /// Token-level alignment of `text` (text tokens only) in a window with `frames` real mel
    /// frames: each token's `(start, end)` word groups with probabilities, times relative to
    /// the window start.
    fn find_alignment(&self, cross: &CrossKv, text: &[u32], frames: usize) -> Result<Vec<Timing>, AsrError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let tok = &self.tokenizer;
        let model = &self.model;
        let heads = model.dims.decoder_heads;
        let ctx = model.dims.n_audio_ctx;
        let mut input = vec![tok.sot, tok.no_timestamps];
        input.extend_from_slice(text);
        input.push(tok.eot);
        if input.len() > model.dims.n_text_ctx {
            return Err(AsrError::Decode(format!("{} tokens to align exceed the text context", input.len())));
        }
        let mut cache = model.new_cache();
        let mut scores = Vec::new();
        let logits = model.decode(&input, &mut cache, cross, self.threads, Some(&mut scores), Logits::All)?;
        let n_vocab = model.dims.n_vocab;
        let eot = tok.eot as usize;
        // Probability of each text token among text tokens only.
        let offset = 1;
        let probs: Vec<f32> = (0..text.len())
            .map(|t| {
                let row = &logits[(offset + t) * n_vocab..(offset + t) * n_vocab + eot];
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
                (f64::from(row[text[t] as usize] - max).exp() / sum) as f32
            })
            .collect();
        let n_tok = input.len();
        let keep = (frames / 2).clamp(1, ctx);
        let alignment_heads = &self.config.alignment_heads;
        if alignment_heads.is_empty() {
            return Err(AsrError::Unsupported("config.json names no alignment_heads: no word timestamps".into()));
        }
        let mean = head_weights(&scores, alignment_heads, heads, ctx, n_tok, keep)?;
        // Rows from <|notimestamps|> to the last text token; DTW on the negated weights.
        let rows = n_tok - offset - 1;
        let cost: Vec<f32> = mean[offset * keep..(offset + rows) * keep].iter().map(|v| -v).collect();
        let path = dtw(&cost, rows, keep);
        let mut jump_times = Vec::new();
        let mut prev = None;
        for &(i, j) in &path {
            if prev != Some(i) {
                jump_times.push(j as f64 / TOKENS_PER_SECOND);
            }
            prev = Some(i);
        }
        let mut with_eot = text.to_vec();
        with_eot.push(tok.eot);
        let (words, word_tokens) = self.split_to_word_tokens(&with_eot)?;
        if word_tokens.len() <= 1 {
            return Ok(Vec::new());
        }
        let mut boundaries = vec![0usize];
        for wt in &word_tokens[..word_tokens.len() - 1] {
            boundaries.push(boundaries[boundaries.len() - 1] + wt.len());
        }
        let mut out = Vec::new();
        for k in 0..boundaries.len() - 1 {
            let (a, b) = (boundaries[k], boundaries[k + 1]);
            let (Some(&start), Some(&end)) = (jump_times.get(a), jump_times.get(b)) else { break };
            let p = if b > a { probs[a..b.min(probs.len())].iter().sum::<f32>() / (b - a) as f32 } else { 0.0 };
            out.push(Timing { word: words[k].clone(), tokens: word_tokens[k].clone(), start, end, probability: p });
        }
        Ok(out)
    }

    /// Groups tokens into words: pieces that decode to whole characters, joined while no
    /// leading space, punctuation or special token starts a new word.
    fn split_to_word_tokens(&self, tokens: &[u32]) -> Result<(Vec<String>, Vec<Vec<u32>>), AsrError> {
        let tok = &self.tokenizer;
        let decode = |ids: &[u32]| -> Result<String, AsrError> {
            if ids.iter().all(|&t| t >= tok.eot) { Ok(String::new()) } else { tok.decode(ids) }
        };
        let mut pieces: Vec<(String, Vec<u32>)> = Vec::new();
        let mut current = Vec::new();
        for &t in tokens {
            current.push(t);
            let text = decode(&current)?;
            if !text.contains('\u{fffd}') || t >= tok.eot {
                pieces.push((text, std::mem::take(&mut current)));
            }
        }
        if !current.is_empty() {
            let text = decode(&current)?;
            pieces.push((text, current));
        }
        let mut words: Vec<String> = Vec::new();
        let mut word_tokens: Vec<Vec<u32>> = Vec::new();
        for (text, ids) in pieces {
            let special = ids[0] >= tok.eot;
            let with_space = text.starts_with(' ');
            let trimmed = text.trim();
            let punctuation = !trimmed.is_empty()
                && trimmed.chars().count() == 1
                && trimmed.chars().all(|c| c.is_ascii_punctuation());
            if special || with_space || punctuation || words.is_empty() {
                words.push(text);
                word_tokens.push(ids);
            } else if let (Some(w), Some(wt)) = (words.last_mut(), word_tokens.last_mut()) {
                w.push_str(&text);
                wt.extend(ids);
            }
        }
        Ok((words, word_tokens))
    }
}

fn merge_punctuations(alignment: &mut [Timing]) {
    if alignment.len() >= 2 {
        let mut i = alignment.len() as isize - 2;
        let mut j = alignment.len() - 1;
        while i >= 0 {
            let iu = i as usize;
            let prev = &alignment[iu];
            if prev.word.starts_with(' ')
                && !prev.word.trim().is_empty()
                && PREPEND_PUNCTUATIONS.contains(prev.word.trim())
            {
                let (word, tokens) =
                    (std::mem::take(&mut alignment[iu].word), std::mem::take(&mut alignment[iu].tokens));
                let following = &mut alignment[j];
                following.word = word + &following.word;
                following.tokens.splice(0..0, tokens);
            } else {
                j = iu;
            }
            i -= 1;
        }
    }
    let (mut i, mut j) = (0, 1);
    while j < alignment.len() {
        let follow = alignment[j].word.clone();
        if !alignment[i].word.ends_with(' ') && !follow.is_empty() && APPEND_PUNCTUATIONS.contains(follow.as_str()) {
            let tokens = std::mem::take(&mut alignment[j].tokens);
            alignment[i].word.push_str(&follow);
            alignment[i].tokens.extend(tokens);
            alignment[j].word.clear();
        } else {
            i = j;
        }
        j += 1;
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The median word duration (at most 0.7 s) and twice it; a word longer than that beside a
/// sentence end is cut to it (faster-whisper's handling of words stretched over pauses).
fn clamp_long_words(alignment: &mut [Timing]) -> (f64, f64) {
    let durations: Vec<f64> = alignment.iter().map(|w| w.end - w.start).filter(|&d| d != 0.0).collect();
    let median = if durations.is_empty() {
        0.0
    } else {
        let mut d = durations.clone();
        d.sort_by(f64::total_cmp);
        let n = d.len();
        if n % 2 == 1 { d[n / 2] } else { (d[n / 2 - 1] + d[n / 2]) / 2.0 }
    };
    let median = median.min(0.7);
    let max_duration = median * 2.0;
    if !durations.is_empty() {
        for i in 1..alignment.len() {
            if alignment[i].end - alignment[i].start > max_duration {
                if SENTENCE_END_MARKS.contains(alignment[i].word.as_str()) && !alignment[i].word.is_empty() {
                    alignment[i].end = alignment[i].start + max_duration;
                } else if !alignment[i - 1].word.is_empty()
                    && SENTENCE_END_MARKS.contains(alignment[i - 1].word.as_str())
                {
                    alignment[i].start = alignment[i].end - max_duration;
                }
            }
        }
    }
    (median, max_duration)
}

/// Adds words to the segments of one window (seek `seek` frames, `frames` real frames), and
/// lets the words correct the segment bounds, as faster-whisper does. Returns the new
/// `last_speech_timestamp`.
pub(crate) fn align_words(
    asr: &Asr,
    cross: &CrossKv,
    segments: &mut [Segment],
    seek: usize,
    frames: usize,
    mut last_speech: f64,
) -> Result<f64, AsrError> {
    let tok = asr.tokenizer();
    let per_segment: Vec<Vec<u32>> =
        segments.iter().map(|s| s.tokens.iter().copied().filter(|&t| t < tok.eot).collect()).collect();
    let text: Vec<u32> = per_segment.iter().flatten().copied().collect();
    let mut alignment = asr.find_alignment(cross, &text, frames)?;
    let (median, max_duration) = clamp_long_words(&mut alignment);
    merge_punctuations(&mut alignment);
    let time_offset = seek as f64 / 100.0;
    let mut word_index = 0;
    for (segment, tokens) in segments.iter_mut().zip(&per_segment) {
        let mut saved = 0;
        let mut words: Vec<Word> = Vec::new();
        while word_index < alignment.len() && saved < tokens.len() {
            let t = &alignment[word_index];
            if !t.word.is_empty() {
                words.push(Word {
                    word: t.word.clone(),
                    start_s: round2(time_offset + t.start),
                    end_s: round2(time_offset + t.end),
                    probability: t.probability,
                });
            }
            saved += t.tokens.len();
            word_index += 1;
        }
        if let Some(first) = words.first().cloned() {
            if first.end_s - last_speech > median * 4.0
                && (first.end_s - first.start_s > max_duration
                    || (words.len() > 1 && words[1].end_s - first.start_s > max_duration * 2.0))
            {
                if words.len() > 1 && words[1].end_s - words[1].start_s > max_duration {
                    let boundary = (words[1].end_s / 2.0).max(words[1].end_s - max_duration);
                    words[0].end_s = boundary;
                    words[1].start_s = boundary;
                }
                words[0].start_s = (words[0].end_s - max_duration).max(0.0);
            }
            if segment.start_s < words[0].end_s && segment.start_s - 0.5 > words[0].start_s {
                words[0].start_s = (words[0].end_s - median).min(segment.start_s).max(0.0);
            } else {
                segment.start_s = words[0].start_s;
            }
            let n = words.len();
            if segment.end_s > words[n - 1].start_s && segment.end_s + 0.5 < words[n - 1].end_s {
                words[n - 1].end_s = (words[n - 1].start_s + median).max(segment.end_s);
            } else {
                segment.end_s = words[n - 1].end_s;
            }
            last_speech = segment.end_s;
        }
        segment.words = words;
    }
    Ok(last_speech)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtw_follows_the_cheap_diagonal() {
        // 3 tokens over 6 frames: token 0 cheap on frames 0-1, token 1 on 2-3, token 2 on 4-5.
        let mut cost = vec![1f32; 18];
        for (t, f) in [(0, 0), (0, 1), (1, 2), (1, 3), (2, 4), (2, 5)] {
            cost[t * 6 + f] = -1.0;
        }
        let path = dtw(&cost, 3, 6);
        assert_eq!(path.first(), Some(&(0, 0)));
        assert_eq!(path.last(), Some(&(2, 5)));
        let first_frame_of = |t: isize| path.iter().find(|p| p.0 == t).map(|p| p.1);
        assert_eq!((first_frame_of(1), first_frame_of(2)), (Some(2), Some(4)));
    }

    #[test]
    fn median_filter_reflects_at_the_edges() {
        let x = [5.0, 1.0, 1.0, 9.0, 1.0, 1.0, 1.0];
        assert_eq!(median_filter(&x, 3), vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(median_filter(&[1.0, 2.0], 7), vec![1.0, 2.0]);
    }
}
