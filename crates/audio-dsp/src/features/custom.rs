//! The reference SER implementation's 312-dimensional "CustomFeature" and frame-level log-mel.

use super::Matrix;
use super::mel::{dct2_ortho_rows, mel_filterbank, power_to_db};
use super::pitch::{chroma_filterbank, estimate_tuning, piptrack, pitch_tuning};
use super::spectral::{
    rms_from_magnitude, spectral_centroid, spectral_contrast, spectral_flatness, zero_crossing_rate,
};
use super::stft::{StftConfig, fft_frequencies, stft_magnitude, stft_power};
use crate::DspError;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Filter banks depend only on the sample rate (and, for chroma, the estimated tuning, which
/// takes one of 100 values), so they are built once per thread and reused.
#[derive(Default)]
struct Banks {
    mel128: HashMap<u32, Rc<Matrix>>,
    chroma: HashMap<(u32, i64), Rc<Matrix>>,
}

thread_local! {
    static BANKS: RefCell<Banks> = RefCell::new(Banks::default());
}

fn mel128_bank(sr: u32) -> Rc<Matrix> {
    BANKS.with_borrow_mut(|b| {
        b.mel128.entry(sr).or_insert_with(|| Rc::new(mel_filterbank(sr, 2048, 128, 0.0, sr as f64 / 2.0))).clone()
    })
}

fn chroma_bank(sr: u32, tuning: f64) -> Rc<Matrix> {
    let key = (sr, (tuning * 1e6).round() as i64);
    BANKS.with_borrow_mut(|b| {
        b.chroma.entry(key).or_insert_with(|| Rc::new(chroma_filterbank(sr, 2048, tuning, 12))).clone()
    })
}

/// Length of [`custom_feature`]'s vector.
pub const CUSTOM_FEATURE_LEN: usize = 312;

fn mean(v: impl ExactSizeIterator<Item = f64> + Clone) -> f64 {
    let n = v.len().max(1) as f64;
    v.sum::<f64>() / n
}

/// Population standard deviation (ddof 0), as numpy's `std`.
fn std(v: impl ExactSizeIterator<Item = f64> + Clone) -> f64 {
    let m = mean(v.clone());
    let n = v.len().max(1) as f64;
    (v.map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt()
}

fn max(v: impl Iterator<Item = f64>) -> f64 {
    v.fold(f64::NEG_INFINITY, f64::max)
}

fn row_stats(m: &Matrix, f: impl Fn(&[f32]) -> f64) -> Vec<f64> {
    (0..m.rows).map(|r| f(m.row(r))).collect()
}

/// The 312-d hand-crafted feature vector of the SER reference (`AudioFeaturizer.custom_features`
/// in yeyupiaoling's SpeechEmotionRecognition-Pytorch), in its exact order:
///
/// | index | content |
/// |---|---|
/// | 0 | mean spectral flatness |
/// | 1 | mean zero-crossing rate |
/// | 2–3 | mean, max of the STFT magnitude |
/// | 4–6 | mean, std, max of the spectral centroid normalised by its sum over frames |
/// | 7 | std of the STFT magnitude |
/// | 8–10 | mean, max, std of the "pitch track" (see below) |
/// | 11 | pitch tuning offset over all piptrack pitches |
/// | 12–14 | mean, max, std of RMS |
/// | 15–164 | MFCC-50 mean, std, max over frames |
/// | 165–176 | chroma-12 mean |
/// | 177–304 | mel-128 power mean (linear) |
/// | 305–311 | spectral contrast mean (7 bands) |
///
/// All from one STFT (n_fft 2048, hop 512, centred, zero-padded) of `x` at `sr`.
///
/// **Reference quirk, reproduced on purpose:** the pitch track is not a per-frame pitch. The
/// reference takes the frequency bin with the largest piptrack magnitude *in frame 1* and reads
/// that same bin's pitch in every frame (mostly zeros). Fixing it would break parity with
/// models trained on the reference's features.
///
/// Needs at least 512 samples (two frames), since the quirk reads frame 1.
pub fn custom_feature(x: &[f32], sr: u32) -> Result<[f32; CUSTOM_FEATURE_LEN], DspError> {
    let cfg = StftConfig::default();
    if cfg.frames(x.len()) < 2 {
        return Err(DspError::InvalidInput(format!(
            "CustomFeature needs at least {} samples (two STFT frames), got {}",
            cfg.hop,
            x.len()
        )));
    }
    let mag = stft_magnitude(x, &cfg)?;
    // librosa squares the f32 magnitude for power spectrograms.
    let power = Matrix { rows: mag.rows, cols: mag.cols, data: mag.data.iter().map(|v| v * v).collect() };
    let freqs = fft_frequencies(sr, cfg.n_fft);
    let frames = mag.cols;

    let (pitches, pitch_mags) = piptrack(&mag, sr, 70.0, 400.0, 0.1);
    let mut index = 0;
    for k in 0..pitch_mags.rows {
        if pitch_mags.get(k, 1) > pitch_mags.get(index, 1) {
            index = k;
        }
    }
    let track: Vec<f64> = pitches.row(index).iter().map(|&v| v as f64).collect();
    let tuning = pitch_tuning(pitches.data.iter().copied(), 12);

    let centroid = spectral_centroid(&mag, &freqs);
    let total: f64 = centroid.iter().sum();
    let centroid: Vec<f64> = centroid.iter().map(|c| c / total).collect();
    let rms = rms_from_magnitude(&mag);
    let flatness = spectral_flatness(&power);
    let zcr = zero_crossing_rate(x, cfg.n_fft, cfg.hop);
    let mag_values = mag.data.iter().map(|&v| v as f64);

    let mel = mel128_bank(sr).matmul(&power);
    let mel_db = Matrix { rows: mel.rows, cols: mel.cols, data: power_to_db(&mel.data, 1e-10, Some(80.0)) };
    let mfcc = dct2_ortho_rows(&mel_db, 50);
    let chroma = normalize_columns_max(chroma_bank(sr, estimate_tuning(&mag, sr, 12)).matmul(&mag));
    let contrast = spectral_contrast(&mag, &freqs, 200.0, 6, 0.02);

    let mut v: Vec<f64> = vec![
        mean(flatness.iter().copied()),
        mean(zcr.iter().copied()),
        mean(mag_values.clone()),
        max(mag_values.clone()),
        mean(centroid.iter().copied()),
        std(centroid.iter().copied()),
        max(centroid.iter().copied()),
        std(mag_values),
        mean(track.iter().copied()),
        max(track.iter().copied()),
        std(track.iter().copied()),
        tuning,
        mean(rms.iter().copied()),
        max(rms.iter().copied()),
        std(rms.iter().copied()),
    ];
    let f64s = |r: &[f32]| r.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    v.extend(row_stats(&mfcc, |r| mean(f64s(r).into_iter())));
    v.extend(row_stats(&mfcc, |r| std(f64s(r).into_iter())));
    v.extend(row_stats(&mfcc, |r| max(f64s(r).into_iter())));
    v.extend(row_stats(&chroma, |r| mean(f64s(r).into_iter())));
    v.extend(row_stats(&mel, |r| mean(f64s(r).into_iter())));
    v.extend(contrast.iter().map(|r| mean(r.iter().copied())));
    debug_assert_eq!(v.len(), CUSTOM_FEATURE_LEN);
    debug_assert_eq!(frames, mel.cols);
    let mut out = [0f32; CUSTOM_FEATURE_LEN];
    for (o, x) in out.iter_mut().zip(v) {
        *o = x as f32;
    }
    Ok(out)
}

/// Scales each column so its largest |value| is 1 (columns that are all ~0 stay as they are).
fn normalize_columns_max(mut m: Matrix) -> Matrix {
    for t in 0..m.cols {
        let max = (0..m.rows).map(|c| m.data[c * m.cols + t].abs()).fold(0f32, f32::max);
        if max >= f32::MIN_POSITIVE {
            for c in 0..m.rows {
                m.data[c * m.cols + t] /= max;
            }
        }
    }
    m
}

/// Frame-level log-mel for temporal models: 64 Slaney mel bands over 25 ms windows every 10 ms
/// (n_fft 400 / hop 160 at 16 kHz), power in dB re 1.0 with a −100 dB floor (amin 1e-10), no
/// top-dB clip. `[64, 1 + n / hop]`, librosa's layout.
pub fn log_mel(x: &[f32], sr: u32) -> Result<Matrix, DspError> {
    let n_fft = (0.025 * sr as f64).round() as usize;
    let hop = (0.010 * sr as f64).round() as usize;
    let cfg = StftConfig { n_fft, hop, win_length: n_fft, ..StftConfig::default() };
    let power = stft_power(x, &cfg)?;
    let fb = mel_filterbank(sr, n_fft, 64, 0.0, sr as f64 / 2.0);
    let mel = fb.matmul(&power);
    Ok(Matrix { rows: mel.rows, cols: mel.cols, data: power_to_db(&mel.data, 1e-10, None) })
}
