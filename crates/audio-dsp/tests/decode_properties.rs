//! WAV write → decode round trips over generated clips (proptest; failing seeds are saved to
//! `decode_properties.proptest-regressions` beside this file and replayed first).

use audio_dsp::{decode_bytes, decode_path, write_wav_f32, write_wav_pcm16};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("decode-props-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// 16-bit PCM: decode → write → decode is lossless, and the first decode is the written
    /// value on the `k / 32768` grid; any prefix of the file cut inside the data is an error,
    /// never a shorter clip.
    #[test]
    fn pcm16_wav_round_trips_and_cut_files_are_errors(
        samples in prop::collection::vec(-1.2f32..1.2, 1..3000),
        rate in prop::sample::select(vec![8000u32, 16000, 22050, 44100, 48000]),
        cut in any::<prop::sample::Index>(),
    ) {
        let path = temp(&format!("pcm16-{}.wav", samples.len()));
        write_wav_pcm16(&path, &samples, rate).unwrap();
        let first = decode_path(&path).unwrap();
        prop_assert_eq!(first.sample_rate, rate);
        prop_assert_eq!(first.samples.len(), samples.len());
        for (got, want) in first.samples.iter().zip(&samples) {
            let grid = (want * 32768.0).round().clamp(-32768.0, 32767.0) / 32768.0;
            prop_assert_eq!(*got, grid);
        }
        write_wav_pcm16(&path, &first.samples, rate).unwrap();
        prop_assert_eq!(decode_path(&path).unwrap(), first);
        let bytes = std::fs::read(&path).unwrap();
        let data_start = bytes.len() - 2 * samples.len();
        let cut_at = data_start + 1 + cut.index(bytes.len() - data_start - 1);
        let _ = std::fs::remove_file(&path);
        prop_assert!(decode_bytes(&bytes[..cut_at]).is_err(), "cut at {} of {} decoded", cut_at, bytes.len());
    }

    /// 32-bit float WAV is bit-exact, including values outside [−1, 1].
    #[test]
    fn f32_wav_is_bit_exact(samples in prop::collection::vec(-4.0f32..4.0, 1..2000)) {
        let path = temp(&format!("f32-{}.wav", samples.len()));
        write_wav_f32(&path, &samples, 16000).unwrap();
        let got = decode_path(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        prop_assert_eq!(got.samples, samples);
        prop_assert_eq!(got.channels_in, 1);
    }
}
