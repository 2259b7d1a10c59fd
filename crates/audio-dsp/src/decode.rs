//! Decoding WAV (PCM 16/24/32, float, WAVE_FORMAT_EXTENSIBLE), FLAC, MP3 and OGG Vorbis to mono
//! `f32` with symphonia, and writing WAV with hound.
//!
//! Integer PCM converts as `s / 2^(bits−1)` (PCM16: `s / 32768`), so WAV input is bit-exact with
//! soundfile/librosa. Channels are averaged to mono. A stream that ends before the length its
//! header declares is an error ([`DspError::Truncated`]), not a short clip.

use crate::DspError;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;

/// Longest audio accepted, in frames: 24 h at 192 kHz. Guards allocations driven by headers.
pub const MAX_FRAMES: u64 = 24 * 3600 * 192_000;

/// Decoded mono audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Mono samples in [-1, 1] (channels averaged).
    pub samples: Vec<f32>,
    /// Hz.
    pub sample_rate: u32,
    /// Channels in the source before down-mixing.
    pub channels_in: usize,
    /// Seconds.
    pub duration: f64,
}

/// Decodes a file; the extension is used as a hint, the content decides.
pub fn decode_path(path: impl AsRef<Path>) -> Result<Audio, DspError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| DspError::Io { path: path.display().to_string(), source: e })?;
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    decode_source(Box::new(file), &hint)
}

/// Decodes audio held in memory.
pub fn decode_bytes(bytes: &[u8]) -> Result<Audio, DspError> {
    decode_source(Box::new(Cursor::new(bytes.to_vec())), &Hint::new())
}

/// Decodes from any reader (not seekable, so formats are probed from the start only).
pub fn decode_reader<R: Read + Send + Sync + 'static>(reader: R) -> Result<Audio, DspError> {
    decode_source(Box::new(ReadOnlySource::new(reader)), &Hint::new())
}

fn map_err(e: SymError) -> DspError {
    match e {
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DspError::Truncated("stream ended inside a header or packet".into())
        }
        SymError::IoError(io) => DspError::Decode(io.to_string()),
        SymError::Unsupported(what) => DspError::Unsupported(what.to_string()),
        SymError::LimitError(what) => DspError::Decode(format!("limit reached: {what}")),
        other => DspError::Decode(other.to_string()),
    }
}

fn decode_source(source: Box<dyn MediaSource>, hint: &Hint) -> Result<Audio, DspError> {
    let mss = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
    let mut format = symphonia::default::get_probe()
        .probe(hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => DspError::Unsupported("unrecognised or unsupported audio container".into()),
            other => map_err(other),
        })?;
    let track =
        format.default_track(TrackType::Audio).ok_or_else(|| DspError::Unsupported("no audio track".into()))?.clone();
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| DspError::Unsupported("track has no audio codec parameters".into()))?
        .clone();
    let sample_rate =
        params.sample_rate.filter(|&r| r > 0).ok_or_else(|| DspError::Decode("sample rate is 0 or missing".into()))?;
    let declared_frames = track.num_frames;
    if declared_frames.is_some_and(|n| n > MAX_FRAMES) {
        return Err(DspError::Decode(format!(
            "header declares {} frames, over the {MAX_FRAMES} limit",
            declared_frames.unwrap_or(0)
        )));
    }
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(map_err)?;

    let mut mono: Vec<f32> = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut channels_in = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
    let mut truncated = false;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                truncated = true;
                break;
            }
            Err(e) => return Err(map_err(e)),
        };
        if packet.track_id != track.id {
            continue;
        }
        let buf = decoder.decode(&packet).map_err(map_err)?;
        let ch = buf.spec().channels().count();
        if ch == 0 {
            return Err(DspError::Decode("decoded buffer has no channels".into()));
        }
        channels_in = ch;
        buf.copy_to_vec_interleaved(&mut interleaved);
        if mono.len() as u64 + (interleaved.len() / ch) as u64 > MAX_FRAMES {
            return Err(DspError::Decode(format!("stream is longer than the {MAX_FRAMES}-frame limit")));
        }
        if ch == 1 {
            mono.extend_from_slice(&interleaved);
        } else {
            let scale = 1.0 / ch as f32;
            mono.extend(interleaved.chunks_exact(ch).map(|f| f.iter().sum::<f32>() * scale));
        }
    }
    if let Some(n) = declared_frames.filter(|&n| (mono.len() as u64) < n) {
        return Err(DspError::Truncated(format!("header declares {n} frames, stream holds {}", mono.len())));
    }
    if truncated {
        return Err(DspError::Truncated(format!("stream ended mid-packet after {} frames", mono.len())));
    }
    if channels_in == 0 {
        return Err(DspError::Decode("stream declares no channels".into()));
    }
    let duration = mono.len() as f64 / sample_rate as f64;
    Ok(Audio { samples: mono, sample_rate, channels_in, duration })
}

/// Writes mono `f32` samples as a 16-bit PCM WAV: `round(s · 32768)` clamped to the i16 range,
/// the inverse of the decoder's `s / 32768`, so decode → write → decode is lossless.
pub fn write_wav_pcm16(path: impl AsRef<Path>, samples: &[f32], sample_rate: u32) -> Result<(), DspError> {
    let pcm = samples.iter().map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16);
    write_mono(path.as_ref(), sample_rate, 16, hound::SampleFormat::Int, pcm)
}

/// Writes mono `f32` samples as a 32-bit float WAV (lossless).
pub fn write_wav_f32(path: impl AsRef<Path>, samples: &[f32], sample_rate: u32) -> Result<(), DspError> {
    write_mono(path.as_ref(), sample_rate, 32, hound::SampleFormat::Float, samples.iter().copied())
}

fn write_mono<S: hound::Sample>(
    path: &Path,
    sample_rate: u32,
    bits_per_sample: u16,
    sample_format: hound::SampleFormat,
    samples: impl Iterator<Item = S>,
) -> Result<(), DspError> {
    let spec = hound::WavSpec { channels: 1, sample_rate, bits_per_sample, sample_format };
    let wrap = |e: hound::Error| DspError::Encode(format!("{}: {e}", path.display()));
    let mut w = hound::WavWriter::create(path, spec).map_err(wrap)?;
    for s in samples {
        w.write_sample(s).map_err(wrap)?;
    }
    w.finalize().map_err(wrap)
}
