//! Features against librosa 0.9.2 goldens (`tests/fixtures/features`), with the golden README's
//! tolerances.

mod common;
use audio_dsp::features::{
    self, Matrix, StftConfig, custom_feature, fft_frequencies, log_mel, mel, pitch, spectral, stft_magnitude,
};
use common::*;

const CLIPS: [&str; 3] = ["synthetic_chirp_noise", "alsa_front_center", "alsa_front_left_right"];
const SR: u32 = 16_000;

fn scalars(clip: &str) -> serde_json::Value {
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("features/features.json")).unwrap()).unwrap();
    j["clips"][clip]["scalars"].clone()
}

fn input(clip: &str) -> Vec<f32> {
    npy_f32(&format!("features/{clip}/input_16k.npy"))
}

fn golden(clip: &str, name: &str) -> Vec<f64> {
    npy_f64(&format!("features/{clip}/{name}.npy"))
}

fn as_f64(m: &Matrix) -> Vec<f64> {
    m.data.iter().map(|&v| v as f64).collect()
}

fn rel_to_max(got: &[f64], want: &[f64]) -> f64 {
    let max = want.iter().fold(0f64, |a, &b| a.max(b.abs()));
    max_abs_diff(got, want) / max
}

fn max_rel(got: &[f64], want: &[f64]) -> f64 {
    got.iter().zip(want).map(|(g, w)| if *w == 0.0 { g.abs() } else { ((g - w) / w).abs() }).fold(0.0, f64::max)
}

fn magnitude(clip: &str) -> Matrix {
    stft_magnitude(&input(clip), &StftConfig::default()).unwrap()
}

fn power(m: &Matrix) -> Matrix {
    Matrix { rows: m.rows, cols: m.cols, data: m.data.iter().map(|v| v * v).collect() }
}

#[test]
fn stft_magnitude_rel_to_max_2e_6() {
    let clip = "alsa_front_center";
    let mag = magnitude(clip);
    assert_eq!(
        mag.shape().to_vec(),
        npy_shape(&format!("features/{clip}/stft_mag.npy")).iter().map(|&v| v as usize).collect::<Vec<_>>()
    );
    let err = rel_to_max(&as_f64(&mag), &golden(clip, "stft_mag"));
    assert!(err <= 2e-6, "{err:e}");
}

#[test]
fn filter_banks_within_1e_7() {
    let fb = mel::mel_filterbank(SR, 2048, 128, 0.0, 8000.0);
    assert!(max_abs_diff(&as_f64(&fb), &npy_f64("features/mel_filterbank_128_nfft2048.npy")) <= 1e-7);
    let fb = mel::mel_filterbank(SR, 400, 64, 0.0, 8000.0);
    assert!(max_abs_diff(&as_f64(&fb), &npy_f64("features/mel_filterbank_64_nfft400.npy")) <= 1e-7);
    for clip in CLIPS {
        let tuning = scalars(clip)["chroma_estimated_tuning"].as_f64().unwrap();
        let fb = pitch::chroma_filterbank(SR, 2048, tuning, 12);
        let err = max_abs_diff(&as_f64(&fb), &golden(clip, "chroma_filterbank"));
        assert!(err <= 1e-7, "{clip}: {err:e}");
    }
}

#[test]
fn mel_db_and_mfcc() {
    for clip in CLIPS {
        let mag = magnitude(clip);
        let mel_p = mel::mel_filterbank(SR, 2048, 128, 0.0, 8000.0).matmul(&power(&mag));
        let want = golden(clip, "mel128_power");
        assert!(rel_to_max(&as_f64(&mel_p), &want) <= 2e-6, "{clip} mel power");
        let max = want.iter().cloned().fold(0.0, f64::max);
        for (g, w) in as_f64(&mel_p).iter().zip(&want) {
            if *w > 1e-6 * max {
                assert!(((g - w) / w).abs() <= 1e-4, "{clip}: mel {g} vs {w}");
            }
        }
        let db = Matrix { rows: mel_p.rows, cols: mel_p.cols, data: mel::power_to_db(&mel_p.data, 1e-10, Some(80.0)) };
        assert!(max_abs_diff(&as_f64(&db), &golden(clip, "mel128_db_top80")) <= 1e-3, "{clip} dB");
        let mfcc = mel::dct2_ortho_rows(&db, 50);
        assert!(max_abs_diff(&as_f64(&mfcc), &golden(clip, "mfcc50")) <= 1e-3, "{clip} mfcc");
    }
}

#[test]
fn log_mel_64() {
    for clip in CLIPS {
        let x = input(clip);
        let power = features::stft_power(&x, &StftConfig::frames_25ms_10ms()).unwrap();
        let mel_p = mel::mel_filterbank(SR, 400, 64, 0.0, 8000.0).matmul(&power);
        assert!(rel_to_max(&as_f64(&mel_p), &golden(clip, "logmel64_power")) <= 2e-6, "{clip}");
        let lm = log_mel(&x, SR).unwrap();
        let want = golden(clip, "logmel64_db");
        assert_eq!(lm.data.len(), want.len());
        let got = as_f64(&lm);
        assert!(max_abs_diff(&got, &want) <= 5e-3, "{clip} overall");
        for (g, w) in got.iter().zip(&want) {
            if *w > -60.0 {
                assert!((g - w).abs() <= 1e-3, "{clip}: {g} vs {w}");
            }
        }
    }
}

#[test]
fn rms_zcr_centroid_flatness_contrast() {
    for clip in CLIPS {
        let x = input(clip);
        let mag = magnitude(clip);
        let freqs = fft_frequencies(SR, 2048);
        assert!(max_rel(&spectral::rms_from_magnitude(&mag), &golden(clip, "rms")) <= 1e-5, "{clip} rms");
        assert_eq!(spectral::zero_crossing_rate(&x, 2048, 512).unwrap(), golden(clip, "zcr"), "{clip} zcr exact");
        assert!(
            max_rel(&spectral::spectral_centroid(&mag, &freqs), &golden(clip, "spectral_centroid_raw")) <= 1e-5,
            "{clip} centroid"
        );
        assert!(
            max_rel(&spectral::spectral_flatness(&power(&mag)), &golden(clip, "spectral_flatness")) <= 1e-4,
            "{clip} flatness"
        );
        let contrast: Vec<f64> = spectral::spectral_contrast(&mag, &freqs, 200.0, 6, 0.02).concat();
        assert!(max_abs_diff(&contrast, &golden(clip, "spectral_contrast")) <= 1e-3, "{clip} contrast");
    }
}

#[test]
fn piptrack_tuning_and_chroma() {
    for clip in CLIPS {
        let s = scalars(clip);
        let mag = magnitude(clip);
        let (pitches, mags) = pitch::piptrack(&mag, SR, 70.0, 400.0, 0.1);
        let rows = 64 * mag.cols;
        assert!(pitches.data[rows..].iter().all(|&v| v == 0.0), "{clip}: pitches beyond row 64");
        let gp = golden(clip, "piptrack_pitches_rows0-63");
        let gm = golden(clip, "piptrack_mags_rows0-63");
        assert!(max_rel(&as_f64(&pitches)[..rows], &gp) <= 1e-4, "{clip} pitches");
        assert!(rel_to_max(&as_f64(&mags)[..rows], &gm) <= 1e-5, "{clip} mags");
        let index = (0..mags.rows).fold(0, |best, k| if mags.get(k, 1) > mags.get(best, 1) { k } else { best });
        assert_eq!(index as u64, s["pitch_index_from_column_1"].as_u64().unwrap(), "{clip} pitch index");
        let tuning = pitch::pitch_tuning(pitches.data.iter().copied(), 12);
        assert!((tuning - s["pitch_tuning_offset"].as_f64().unwrap()).abs() < 1e-12, "{clip} tuning {tuning}");
        let est = pitch::estimate_tuning(&mag, SR, 12);
        assert!((est - s["chroma_estimated_tuning"].as_f64().unwrap()).abs() < 1e-12, "{clip} chroma tuning {est}");
        let (chroma, _) = pitch::chroma_stft(&mag, SR);
        let err = max_abs_diff(&as_f64(&chroma), &golden(clip, "chroma"));
        assert!(err <= 1e-5, "{clip} chroma {err:e}");
    }
}

#[test]
fn custom_feature_312_within_tolerances() {
    for clip in CLIPS {
        let got: Vec<f64> = custom_feature(&input(clip), SR).unwrap().iter().map(|&v| v as f64).collect();
        let want = golden(clip, "custom_feature_312");
        let rel = |i: usize| if want[i] == 0.0 { got[i].abs() } else { ((got[i] - want[i]) / want[i]).abs() };
        assert!(rel(0) <= 1e-4, "{clip} flatness");
        assert!((got[1] - want[1]).abs() <= 1e-7, "{clip} zcr");
        for i in [2, 3, 4, 5, 6, 7, 12, 13, 14] {
            assert!(rel(i) <= 1e-5, "{clip} [{i}] {} vs {}", got[i], want[i]);
        }
        for i in 8..=10 {
            assert!(rel(i) <= 1e-4, "{clip} pitch [{i}] {} vs {}", got[i], want[i]);
        }
        assert!((got[11] - want[11]).abs() < 1e-6, "{clip} tuning");
        assert!(max_abs_diff(&got[15..165], &want[15..165]) <= 1e-3, "{clip} mfcc");
        assert!(max_abs_diff(&got[165..177], &want[165..177]) <= 1e-5, "{clip} chroma");
        assert!(max_rel(&got[177..305], &want[177..305]) <= 1e-4, "{clip} mel");
        assert!(max_abs_diff(&got[305..312], &want[305..312]) <= 1e-3, "{clip} contrast");
    }
}

#[test]
fn short_and_bad_input_are_errors() {
    assert!(custom_feature(&[0.0; 100], SR).is_err());
    assert!(custom_feature(&[0.0; 512], SR).is_ok(), "silence is a valid clip");
    let mut x = vec![0.1f32; 4000];
    x[7] = f32::NAN;
    assert!(custom_feature(&x, SR).is_err());
    assert!(log_mel(&x, SR).is_err());
}
