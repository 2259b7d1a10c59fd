//! Decoding: PCM bit-exactness, every WAV flavour, multichannel down-mix, typed errors on
//! truncated and malformed input.

mod common;
use audio_dsp::{DspError, decode_bytes, decode_path, write_wav_f32, write_wav_pcm16};
use common::fixture;

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("audio-dsp-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn pcm16_is_bit_exact_s_over_32768() {
    let path = fixture("audio/cards__001.wav");
    let audio = decode_path(&path).unwrap();
    let mut reader = hound::WavReader::open(&path).unwrap();
    let expected: Vec<f32> = reader.samples::<i16>().map(|s| s.unwrap() as f32 / 32768.0).collect();
    assert_eq!(audio.sample_rate, 16_000);
    assert_eq!(audio.channels_in, 1);
    assert_eq!(audio.samples, expected);
    assert!((audio.duration - expected.len() as f64 / 16_000.0).abs() < 1e-12);
}

fn write_int(path: &std::path::Path, bits: u16, channels: u16, frames: &[Vec<i32>]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: 22_050,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for f in frames {
        for &s in f {
            match bits {
                16 => w.write_sample(s as i16).unwrap(),
                _ => w.write_sample(s).unwrap(),
            }
        }
    }
    w.finalize().unwrap();
}

#[test]
fn pcm24_pcm32_and_stereo_downmix() {
    let frames: Vec<Vec<i32>> =
        (0..1000).map(|i| vec![(i * 1000) % 8_000_000 - 4_000_000, -((i * 777) % 8_000_000 - 4_000_000)]).collect();
    let p24 = temp("s24.wav");
    write_int(&p24, 24, 2, &frames);
    let a = decode_path(&p24).unwrap();
    assert_eq!(a.channels_in, 2);
    assert_eq!(a.sample_rate, 22_050);
    for (got, f) in a.samples.iter().zip(&frames) {
        let want = (f[0] as f32 / 8_388_608.0 + f[1] as f32 / 8_388_608.0) * 0.5;
        assert!((got - want).abs() <= 1e-7, "{got} vs {want}");
    }
    let frames32: Vec<Vec<i32>> = (0..500).map(|i| vec![i * 4_000_000 - 1_000_000_000]).collect();
    let p32 = temp("s32.wav");
    write_int(&p32, 32, 1, &frames32);
    let a = decode_path(&p32).unwrap();
    for (got, f) in a.samples.iter().zip(&frames32) {
        assert!((got - f[0] as f32 / 2_147_483_648.0).abs() <= 1e-7);
    }
    // Six channels forces WAVE_FORMAT_EXTENSIBLE.
    let frames6: Vec<Vec<i32>> = (0..300).map(|i| (0..6).map(|c| i * 10 + c).collect()).collect();
    let p6 = temp("six.wav");
    write_int(&p6, 16, 6, &frames6);
    let a = decode_path(&p6).unwrap();
    assert_eq!(a.channels_in, 6);
    assert_eq!(a.samples.len(), 300);
    let want = frames6[7].iter().map(|&s| s as f32 / 32768.0).sum::<f32>() / 6.0;
    assert!((a.samples[7] - want).abs() < 1e-7);
}

#[test]
fn float_wav_round_trips_and_pcm16_writer() {
    let x: Vec<f32> = (0..4000).map(|i| ((i as f32) * 0.01).sin() * 0.8).collect();
    let pf = temp("f32.wav");
    write_wav_f32(&pf, &x, 16_000).unwrap();
    assert_eq!(decode_path(&pf).unwrap().samples, x);
    let p16 = temp("p16.wav");
    write_wav_pcm16(&p16, &x, 16_000).unwrap();
    let y = decode_path(&p16).unwrap().samples;
    assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() <= 0.5 / 32768.0));
    // PCM16 content survives decode -> write -> decode bit for bit.
    let clip = decode_path(fixture("audio/cards__001.wav")).unwrap().samples;
    let again = temp("again.wav");
    write_wav_pcm16(&again, &clip, 16_000).unwrap();
    assert_eq!(decode_path(&again).unwrap().samples, clip);
}

#[test]
fn truncated_files_are_errors_not_panics() {
    let good = std::fs::read(fixture("audio/cards__001.wav")).unwrap();
    for cut in [0, 4, 11, 12, 20, 36, 43, 44, 45, 100, good.len() / 2, good.len() - 1] {
        let r = decode_bytes(&good[..cut]);
        assert!(r.is_err(), "cut at {cut} decoded: {:?}", r.map(|a| a.samples.len()));
    }
    let err = decode_bytes(&good[..good.len() / 2]).unwrap_err();
    assert!(matches!(err, DspError::Truncated(_)), "{err}");
}

#[test]
fn malformed_headers_are_errors() {
    let good = std::fs::read(fixture("audio/cards__001.wav")).unwrap();
    // Garbage, an empty file, a RIFF header with a wrong form type.
    assert!(decode_bytes(b"not audio at all, just text").is_err());
    assert!(decode_bytes(&[]).is_err());
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(b"AVI ");
    assert!(decode_bytes(&bad).is_err());
    // Zero channels and zero sample rate in the fmt chunk.
    let mut zero_ch = good.clone();
    zero_ch[22..24].copy_from_slice(&0u16.to_le_bytes());
    assert!(decode_bytes(&zero_ch).is_err());
    let mut zero_rate = good.clone();
    zero_rate[24..28].copy_from_slice(&0u32.to_le_bytes());
    assert!(decode_bytes(&zero_rate).is_err());
    // A data chunk that claims 4 GiB.
    let mut huge = good.clone();
    huge[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_bytes(&huge).is_err());
    // Every single-byte corruption of the header must be handled without a panic.
    for i in 0..44 {
        for v in [0u8, 0xff, 0x7f] {
            let mut c = good.clone();
            c[i] = v;
            let _ = decode_bytes(&c);
        }
    }
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let err = decode_path("/definitely/not/here.wav").unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here.wav"));
}

#[test]
fn flac_is_lossless_and_mp3_ogg_decode() {
    let wav = decode_path(fixture("audio/tone440.wav")).unwrap();
    let flac = decode_path(fixture("audio/tone440.flac")).unwrap();
    assert_eq!(flac.samples, wav.samples, "FLAC must be bit-exact with the WAV it came from");
    for lossy in ["audio/tone440.mp3", "audio/tone440.ogg"] {
        let a = decode_path(fixture(lossy)).unwrap();
        assert_eq!(a.sample_rate, 16_000, "{lossy}");
        // Lossy codecs add priming/padding; the tone's level must survive.
        assert!(a.samples.len() >= 7000, "{lossy}: {} samples", a.samples.len());
        let mid = &a.samples[2000..6000];
        let rms = (mid.iter().map(|v| v * v).sum::<f32>() / mid.len() as f32).sqrt();
        assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.03, "{lossy}: rms {rms}");
    }
    let stereo = decode_path(fixture("audio/stereo44k.flac")).unwrap();
    assert_eq!((stereo.channels_in, stereo.sample_rate), (2, 44_100));
    assert_eq!(stereo.samples.len(), 13_230);
}

#[test]
fn truncated_flac_is_an_error() {
    let good = std::fs::read(fixture("audio/tone440.flac")).unwrap();
    for cut in [10, 42, 100, good.len() / 2] {
        assert!(decode_bytes(&good[..cut]).is_err(), "cut at {cut}");
    }
}
