//! The long-form loop of faster-whisper 1.2.1: seek through the recording 30 s at a time,
//! condition each window on the text so far, split the window's tokens into segments at
//! timestamp pairs, skip windows the model calls silence, and fall back to higher temperatures
//! when a window's text repeats itself or is improbable.

use crate::decode::{LogitRules, Search, WindowDecode, compression_ratio, decode_window};
use crate::mel::{HOP, LogMel, SAMPLE_RATE, WINDOW_FRAMES, check_samples};
use crate::words::{Word, align_words};
use crate::{Asr, AsrError};
use serde::Serialize;

/// Decoding options; `Default` is faster-whisper's `transcribe` with `beam_size=1`, greedy.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscribeOptions {
    /// 1: greedy; more: beam search at temperature 0.
    pub beam_size: usize,
    /// Temperatures tried in order until a window passes the checks below.
    pub temperatures: Vec<f32>,
    /// Samples drawn per window at a temperature above 0.
    pub best_of: usize,
    /// Above this zlib compression ratio a window's text counts as a repetition loop.
    pub compression_ratio_threshold: Option<f64>,
    /// Below this average log-probability a window counts as failed.
    pub log_prob_threshold: Option<f64>,
    /// Above this no-speech probability (with a failed log-probability) a window is silence.
    pub no_speech_threshold: Option<f64>,
    /// Prompt each window with the tokens of the text so far.
    pub condition_on_previous_text: bool,
    /// The first timestamp of a window is at most this many seconds.
    pub max_initial_timestamp: f64,
    /// Forbid a blank or end-of-text as a window's first token.
    pub suppress_blank: bool,
    /// Word-level timestamps from the alignment heads' cross-attention.
    pub word_timestamps: bool,
    /// Seed of the sampler used at temperatures above 0.
    pub seed: u64,
    /// A window whose audio RMS is below this level (dBFS) is silence and is not decoded:
    /// Whisper writes text such as "you" over digital silence with confidence enough to pass
    /// the no-speech rule. `None` decodes every window, as faster-whisper does.
    pub silence_threshold_dbfs: Option<f32>,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        Self {
            beam_size: 1,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            best_of: 5,
            compression_ratio_threshold: Some(2.4),
            log_prob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
            condition_on_previous_text: true,
            max_initial_timestamp: 1.0,
            suppress_blank: true,
            word_timestamps: false,
            seed: 0,
            silence_threshold_dbfs: Some(-60.0),
        }
    }
}

impl TranscribeOptions {
    /// Greedy at temperature 0 only, every window decoded: faster-whisper's settings of the
    /// golden runs.
    pub fn greedy() -> Self {
        Self { temperatures: vec![0.0], silence_threshold_dbfs: None, ..Self::default() }
    }
}

/// One transcribed stretch: text between two timestamp tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    /// Start in the recording, seconds.
    pub start_s: f64,
    /// End in the recording, seconds.
    pub end_s: f64,
    /// Text as decoded (with its leading space).
    pub text: String,
    /// Its tokens.
    pub tokens: Vec<u32>,
    /// Of the window the segment came from.
    pub avg_logprob: f64,
    /// Of the window: probability of the no-speech token.
    pub no_speech_prob: f32,
    /// Of the window's text: raw bytes over zlib-compressed bytes (high means repetition).
    pub compression_ratio: f64,
    /// Temperature the window was decoded at.
    pub temperature: f32,
    /// Empty unless word timestamps were asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<Word>,
}

/// What happened in one 30 s window (for checks against a reference and for debugging).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowTrace {
    /// Start in 10 ms frames.
    pub seek: usize,
    /// Frames of audio in the window.
    pub segment_frames: usize,
    /// The prompt the decoder started from.
    pub prompt: Vec<u32>,
    /// Tokens generated.
    pub tokens: Vec<u32>,
    /// Log-probability of each.
    pub token_logprobs: Vec<f32>,
    /// faster-whisper's average log-probability.
    pub avg_logprob: f64,
    /// Probability of the no-speech token.
    pub no_speech_prob: f32,
    /// Temperature of the accepted attempt.
    pub temperature: f32,
    /// The model called this window silence: nothing emitted.
    pub skipped_no_speech: bool,
}

impl Segment {
    /// A segment of a decoded window, text still to be filled in.
    fn of_window(start_s: f64, end_s: f64, tokens: Vec<u32>, decoded: &WindowDecode, compression_ratio: f64) -> Self {
        Segment {
            start_s,
            end_s,
            text: String::new(),
            tokens,
            avg_logprob: decoded.avg_logprob,
            no_speech_prob: decoded.no_speech_prob,
            compression_ratio,
            temperature: decoded.temperature,
            words: Vec::new(),
        }
    }
}

impl WindowTrace {
    /// A window skipped as digital silence, never decoded.
    fn silent(seek: usize, segment_frames: usize) -> Self {
        WindowTrace {
            seek,
            segment_frames,
            prompt: Vec::new(),
            tokens: Vec::new(),
            token_logprobs: Vec::new(),
            avg_logprob: 0.0,
            no_speech_prob: 1.0,
            temperature: 0.0,
            skipped_no_speech: true,
        }
    }
}

/// A whole recording's transcription.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Transcription {
    /// The text, segment by segment, in order.
    pub segments: Vec<Segment>,
    /// One trace per decoded window.
    pub windows: Vec<WindowTrace>,
    /// Seconds of the recording.
    pub duration_s: f64,
    /// Seconds of audio the model heard (less than `duration_s` when the VAD cut silence out).
    pub speech_s: f64,
}

impl Transcription {
    /// The whole text, segments joined and trimmed (faster-whisper's final text).
    pub fn text(&self) -> String {
        self.segments.iter().map(|s| s.text.as_str()).collect::<String>().trim().to_string()
    }

    /// Maps every start time through `start` and every end time through `end` (times in a
    /// silence-trimmed signal back to the original recording).
    pub fn map_times(&mut self, start: impl Fn(f64) -> f64, end: impl Fn(f64) -> f64) {
        for s in &mut self.segments {
            s.start_s = start(s.start_s);
            s.end_s = end(s.end_s);
            for w in &mut s.words {
                w.start_s = start(w.start_s);
                w.end_s = end(w.end_s);
            }
        }
    }
}

impl Asr {
    /// Transcribes mono 16 kHz samples. `progress` is called after each window with the seconds
    /// done and the total.
    pub fn transcribe_with_progress(
        &self,
        samples: &[f32],
        options: &TranscribeOptions,
        progress: &mut (dyn FnMut(f64, f64) + Send),
    ) -> Result<Transcription, AsrError> {
        check_samples(samples)?;
        self.pool().install(|| self.transcribe_inner(samples, options, progress))
    }

    /// Transcribes mono 16 kHz samples.
    pub fn transcribe(&self, samples: &[f32], options: &TranscribeOptions) -> Result<Transcription, AsrError> {
        self.transcribe_with_progress(samples, options, &mut |_, _| {})
    }

    fn transcribe_inner(
        &self,
        samples: &[f32],
        options: &TranscribeOptions,
        progress: &mut (dyn FnMut(f64, f64) + Send),
    ) -> Result<Transcription, AsrError> {
        let duration_s = samples.len() as f64 / f64::from(SAMPLE_RATE);
        let mut out = Transcription { duration_s, speech_s: duration_s, ..Transcription::default() };
        let content_frames = LogMel::content_frames(samples.len());
        if content_frames == 0 {
            return Ok(out);
        }
        let tok = &self.tokenizer;
        let max = self.mel.recording_max(samples)?;
        let rules = self.rules(options);
        let mut all_tokens: Vec<u32> = Vec::new();
        let mut seek = 0usize;
        let mut last_speech = 0.0;
        while seek < content_frames {
            let time_offset = seek as f64 * 0.01;
            let segment_size = WINDOW_FRAMES.min(content_frames - seek);
            if options.silence_threshold_dbfs.is_some_and(|floor| is_silent(samples, seek, segment_size, floor)) {
                out.windows.push(WindowTrace::silent(seek, segment_size));
                seek += segment_size;
                progress((seek as f64 * 0.01).min(duration_s), duration_s);
                continue;
            }
            let mel = self.mel.window(samples, max, seek, segment_size)?;
            let encoded = self.model.encode(&mel, self.threads)?;
            let cross = self.model.cross_kv(&encoded, self.threads)?;
            let prompt = self.window_prompt(&all_tokens, options);
            let (decoded, ratio) = self.decode_with_fallback(&cross, &prompt, &rules, options)?;
            let mut trace = WindowTrace {
                seek,
                segment_frames: segment_size,
                prompt,
                tokens: decoded.tokens.clone(),
                token_logprobs: decoded.token_logprobs.clone(),
                avg_logprob: decoded.avg_logprob,
                no_speech_prob: decoded.no_speech_prob,
                temperature: decoded.temperature,
                skipped_no_speech: false,
            };
            if let Some(threshold) = options.no_speech_threshold
                && f64::from(decoded.no_speech_prob) > threshold
                && options.log_prob_threshold.is_none_or(|lp| decoded.avg_logprob <= lp)
            {
                trace.skipped_no_speech = true;
                out.windows.push(trace);
                seek += segment_size;
                progress((seek as f64 * 0.01).min(duration_s), duration_s);
                continue;
            }
            out.windows.push(trace);
            let (pieces, mut next_seek, single_ending) = self.split_segments(&decoded.tokens, seek, segment_size);
            let mut current: Vec<Segment> = pieces
                .into_iter()
                .map(|(start_s, end_s, tokens)| Segment::of_window(start_s, end_s, tokens, &decoded, ratio))
                .collect();
            if options.word_timestamps && !current.is_empty() {
                last_speech = align_words(self, &cross, &mut current, seek, segment_size, last_speech)?;
                // Resume after the last word rather than the last timestamp.
                if !single_ending && let Some(end) = last_word_end(&current).filter(|&end| end > time_offset) {
                    next_seek = round_half_even(end * 100.0);
                }
            }
            for mut segment in current {
                segment.text = tok.decode(&segment.tokens)?;
                if segment.start_s == segment.end_s || segment.text.trim().is_empty() {
                    continue;
                }
                all_tokens.extend_from_slice(&segment.tokens);
                out.segments.push(segment);
            }
            seek = next_seek;
            progress((seek as f64 * 0.01).min(duration_s), duration_s);
        }
        Ok(out)
    }

    /// A window's prompt: the previous text's last 223 tokens (half the context, as
    /// faster-whisper) after start-of-previous when conditioning, then start-of-transcript.
    fn window_prompt(&self, all_tokens: &[u32], options: &TranscribeOptions) -> Vec<u32> {
        let tok = &self.tokenizer;
        let history = self.model.dims.n_text_ctx / 2 - 1;
        let mut prompt = Vec::new();
        if options.condition_on_previous_text && !all_tokens.is_empty() {
            prompt.push(tok.sot_prev);
            prompt.extend_from_slice(&all_tokens[all_tokens.len().saturating_sub(history)..]);
        }
        prompt.push(tok.sot);
        prompt
    }

    pub(crate) fn rules(&self, options: &TranscribeOptions) -> LogitRules {
        let tok = &self.tokenizer;
        LogitRules {
            suppress: self.suppress.clone(),
            suppress_begin: if options.suppress_blank { self.suppress_begin.clone() } else { Vec::new() },
            eot: tok.eot,
            no_timestamps: tok.no_timestamps,
            timestamp_begin: tok.timestamp_begin,
            max_initial_timestamp_index: Some(
                (options.max_initial_timestamp / crate::tokenizer::TIMESTAMP_STEP_S).round() as u32,
            ),
            timestamps: true,
        }
    }

    fn decode_with_fallback(
        &self,
        cross: &crate::model::CrossKv,
        prompt: &[u32],
        rules: &LogitRules,
        o: &TranscribeOptions,
    ) -> Result<(WindowDecode, f64), AsrError> {
        let mut tried: Vec<(WindowDecode, f64)> = Vec::new();
        let temperatures = if o.temperatures.is_empty() { vec![0.0] } else { o.temperatures.clone() };
        for &t in &temperatures {
            let search = if t > 0.0 {
                Search::Sample { temperature: t, candidates: o.best_of, seed: o.seed }
            } else if o.beam_size > 1 {
                Search::Beam { size: o.beam_size }
            } else {
                Search::Greedy
            };
            let mut d = decode_window(&self.model, &self.tokenizer, cross, prompt, rules, search, self.threads)?;
            d.temperature = t;
            let ratio = compression_ratio(self.tokenizer.decode(&d.tokens)?.trim());
            let mut needs_fallback = o.compression_ratio_threshold.is_some_and(|c| ratio > c)
                || o.log_prob_threshold.is_some_and(|lp| d.avg_logprob < lp);
            if let (Some(ns), Some(lp)) = (o.no_speech_threshold, o.log_prob_threshold)
                && f64::from(d.no_speech_prob) > ns
                && d.avg_logprob < lp
            {
                needs_fallback = false;
            }
            if !needs_fallback {
                return Ok((d, ratio));
            }
            tried.push((d, ratio));
        }
        // Every temperature failed: the likeliest result, among those that do not repeat.
        let below: Vec<&(WindowDecode, f64)> =
            tried.iter().filter(|(_, r)| o.compression_ratio_threshold.is_none_or(|c| *r <= c)).collect();
        let pool = if below.is_empty() { tried.iter().collect() } else { below };
        pool.into_iter()
            .max_by(|a, b| a.0.avg_logprob.total_cmp(&b.0.avg_logprob))
            .cloned()
            .ok_or_else(|| AsrError::Decode("no temperature produced a result".into()))
    }

    /// Splits a window's tokens into `(start, end, tokens)` at consecutive timestamp pairs and
    /// returns the next seek and whether the window ended on a single timestamp.
    #[allow(clippy::type_complexity)]
    fn split_segments(
        &self,
        tokens: &[u32],
        seek: usize,
        segment_size: usize,
    ) -> (Vec<(f64, f64, Vec<u32>)>, usize, bool) {
        let tok = &self.tokenizer;
        let time_offset = seek as f64 * 0.01;
        let is_ts = |t: u32| tok.is_timestamp(t);
        let n = tokens.len();
        let single_ending = n >= 2 && !is_ts(tokens[n - 2]) && is_ts(tokens[n - 1]);
        let mut slices: Vec<usize> = (1..n).filter(|&i| is_ts(tokens[i]) && is_ts(tokens[i - 1])).collect();
        let mut out = Vec::new();
        if !slices.is_empty() {
            if single_ending {
                slices.push(n);
            }
            let mut last = 0;
            for &cur in &slices {
                let piece = &tokens[last..cur];
                let start = time_offset + tok.timestamp_s(piece[0]);
                let end = time_offset + tok.timestamp_s(piece[piece.len() - 1]);
                out.push((start, end, piece.to_vec()));
                last = cur;
            }
            let next = if single_ending {
                seek + segment_size
            } else {
                seek + (tokens[last - 1].saturating_sub(tok.timestamp_begin) as usize) * 2
            };
            (out, next, single_ending)
        } else {
            let mut duration = segment_size as f64 * 0.01;
            if let Some(&t) = tokens.iter().rev().find(|&&t| is_ts(t))
                && t != tok.timestamp_begin
            {
                duration = tok.timestamp_s(t);
            }
            out.push((time_offset, time_offset + duration, tokens.to_vec()));
            (out, seek + segment_size, single_ending)
        }
    }
}

/// Python's `round` (half to even) of a non-negative value, as a frame index.
/// Whether the window's audio RMS is below `floor_dbfs`.
fn is_silent(samples: &[f32], seek: usize, frames: usize, floor_dbfs: f32) -> bool {
    let span = &samples[(seek * HOP).min(samples.len())..((seek + frames) * HOP).min(samples.len())];
    let power = span.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / span.len().max(1) as f64;
    10.0 * power.max(1e-30).log10() < f64::from(floor_dbfs)
}

/// The end of the last word of a window's segments (the last segment's end when none has words).
fn last_word_end(segments: &[Segment]) -> Option<f64> {
    segments
        .iter()
        .rev()
        .flat_map(|s| s.words.iter().rev())
        .map(|w| w.end_s)
        .next()
        .or_else(|| segments.last().map(|s| s.end_s))
}

fn round_half_even(x: f64) -> usize {
    let r = x.round();
    let r = if (x - x.trunc() - 0.5).abs() < f64::EPSILON * x.abs().max(1.0) && r % 2.0 != 0.0 { r - 1.0 } else { r };
    r.max(0.0) as usize
}
