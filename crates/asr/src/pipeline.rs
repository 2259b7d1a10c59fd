//! From a transcription to the workspace's `Transcript`, and VAD-guided transcription.

use crate::transcribe::{TranscribeOptions, Transcription};
use crate::{Asr, AsrError};
use text_clean::{Speaker, Transcript, Utterance};

/// The speaker of machine-transcribed text: no diarization yet, so every utterance is
/// `Other("unknown")`.
pub const UNKNOWN_SPEAKER: &str = "unknown";

/// One utterance per segment, text trimmed, times in seconds, speaker unknown.
pub fn to_transcript(t: &Transcription) -> Transcript {
    Transcript {
        utterances: t
            .segments
            .iter()
            .map(|s| {
                Utterance::new(Some(s.start_s), Some(s.end_s), Speaker::Other(UNKNOWN_SPEAKER.into()), s.text.trim())
            })
            .collect(),
    }
}

/// VAD-guided transcription settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechOptions {
    /// How the speech is transcribed.
    pub transcribe: TranscribeOptions,
    /// The detector that decides what is speech; `None` transcribes everything.
    pub vad: Option<vad::VadConfig>,
}

impl Default for SpeechOptions {
    fn default() -> Self {
        Self { transcribe: TranscribeOptions::default(), vad: Some(vad::VadConfig::default()) }
    }
}

/// Transcribes only the stretches the VAD calls speech (silence is cut out, so windows of pure
/// silence are never decoded), then maps every time back to the original recording.
pub fn transcribe_speech(
    asr: &Asr,
    samples: &[f32],
    options: &SpeechOptions,
    progress: &mut (dyn FnMut(f64, f64) + Send),
) -> Result<Transcription, AsrError> {
    crate::mel::check_samples(samples)?;
    let Some(cfg) = &options.vad else {
        return asr.transcribe_with_progress(samples, &options.transcribe, progress);
    };
    let sr = crate::mel::SAMPLE_RATE;
    let detection = vad::detect(samples, sr, cfg)?;
    let (speech, map) = vad::remove_silence(samples, sr, &detection.segments);
    let mut out = asr.transcribe_with_progress(&speech, &options.transcribe, progress)?;
    // A time at a joint between two kept pieces belongs to the earlier piece when it ends
    // something and to the later one when it starts something.
    const EPS: f64 = 1e-6;
    out.map_times(|t| map.to_original(t), |t| map.to_original((t - EPS).max(0.0)) + EPS);
    out.speech_s = map.trimmed_duration_s();
    out.duration_s = samples.len() as f64 / f64::from(sr);
    Ok(out)
}
