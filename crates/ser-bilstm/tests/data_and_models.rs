//! Loading data from disk (RAVDESS folders, Emotion2Vec `.npy`), and model folders that
//! round-trip through `Predictor`.

use ser_bilstm::data::{AudioPrep, FeatureKind, FeatureSet, Utterance, VocalChannel, scan_ravdess};
use ser_bilstm::saved::save_model_dir;
use ser_bilstm::synth::{CorpusConfig, write_ravdess_layout};
use ser_bilstm::{
    AnyModel, Architecture, CpuBackend, EMOTIONS, EmotionModel, ModelSpec, Predictor, StandardScaler, TemporalConfig,
};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ser-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A `.npy` (v1.0, little-endian f32) written by hand, as numpy would.
fn write_npy(path: &std::path::Path, shape: &[usize], values: &[f32]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if shape.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn ravdess_folder_scan_sorts_filters_and_rejects_stray_wavs() {
    let dir = temp_dir("scan");
    let n = write_ravdess_layout(&dir, &CorpusConfig { voices: 3, clips_per_class: 1, seconds: 0.6, seed: 1 }).unwrap();
    assert_eq!(n, 12);
    std::fs::write(dir.join("Actor_01/notes.txt"), "ignored").unwrap();
    let items = scan_ravdess(&dir, &[VocalChannel::Speech]).unwrap();
    assert_eq!(items.len(), 12);
    assert!(items.windows(2).all(|w| w[0].path < w[1].path), "lexicographic order");
    assert_eq!(items[0].speaker, "01");
    assert_eq!(EMOTIONS[items[0].label], "neutral");
    assert!(scan_ravdess(&dir, &[VocalChannel::Song]).is_err(), "no song files: a typed error, not an empty set");
    std::fs::write(dir.join("Actor_02/recording.wav"), b"RIFF").unwrap();
    let err = scan_ravdess(&dir, &[VocalChannel::Speech]).unwrap_err().to_string();
    assert!(err.contains("recording.wav"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn emotion2vec_npy_files_utterance_and_frames() {
    let dir = temp_dir("npy");
    let utt: Vec<f32> = (0..768).map(|i| i as f32 / 768.0).collect();
    write_npy(&dir.join("a.npy"), &[768], &utt);
    let frames: Vec<f32> = (0..3 * 768).map(|i| (i % 7) as f32).collect();
    write_npy(&dir.join("b.npy"), &[3, 768], &frames);
    write_npy(&dir.join("bad.npy"), &[2, 100], &[0.0; 200]);
    let u = |name: &str| Utterance { path: dir.join(name), label: 2, speaker: "s".into() };
    let set = FeatureSet::load(&[u("a.npy"), u("b.npy")], FeatureKind::E2v, &AudioPrep::default()).unwrap();
    assert_eq!((set.examples[0].frames, set.examples[1].frames), (1, 3));
    assert_eq!(set.examples[0].values, utt);
    let pooled = set.pooled();
    assert!(pooled.is_utterance_level());
    assert!((pooled.examples[1].values[0] - (0.0 + 5.0 + 3.0) / 3.0).abs() < 1e-6);
    let err = FeatureSet::load(&[u("bad.npy")], FeatureKind::E2v, &AudioPrep::default()).unwrap_err().to_string();
    assert!(err.contains("bad.npy") && err.contains("[2, 100]"), "{err}");
    std::fs::write(dir.join("junk.npy"), b"not numpy").unwrap();
    assert!(FeatureSet::load(&[u("junk.npy")], FeatureKind::E2v, &AudioPrep::default()).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn model_folders_round_trip_through_the_predictor() {
    let device = Default::default();
    let dir = temp_dir("saved");
    let clip =
        ser_bilstm::synth::synthesize(&ser_bilstm::synth::Voice::new(1, 3), &ser_bilstm::synth::CLASSES[1], 1.0, 9);
    for (architecture, features) in [
        (Architecture::Bilstm, FeatureKind::Custom),
        (Architecture::Base, FeatureKind::LogMel),
        (Architecture::Temporal, FeatureKind::LogMel),
    ] {
        let spec = ModelSpec {
            architecture,
            features,
            input_dim: features.dim(),
            class_names: EMOTIONS.iter().map(|s| s.to_string()).collect(),
            prep: AudioPrep::default(),
            temporal: (architecture == Architecture::Temporal)
                .then(|| TemporalConfig { hidden: 32, ..TemporalConfig::new(64, 8) }),
        };
        let model = AnyModel::<CpuBackend>::new(&spec, &device);
        let scaler = StandardScaler { mean: vec![-40.0; spec.input_dim], scale: vec![20.0; spec.input_dim] };
        let folder = dir.join(format!("{architecture:?}"));
        save_model_dir(&folder, &spec, &model, &scaler).unwrap();
        let predictor = Predictor::<CpuBackend>::load(&folder, &device).unwrap();
        assert_eq!(predictor.spec, spec);
        assert_eq!(predictor.model.to_state_dict().unwrap(), model.to_state_dict().unwrap());
        let p = predictor.predict_samples(&clip).unwrap();
        assert_eq!(p.probs.len(), 8);
        assert!((p.probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(p.score, p.probs.iter().cloned().fold(0.0, f32::max));
        // model.json that disagrees with the weights is refused.
        let mut wrong = spec.clone();
        wrong.class_names.pop();
        std::fs::write(folder.join("model.json"), serde_json::to_string(&wrong).unwrap()).unwrap();
        assert!(Predictor::<CpuBackend>::load(&folder, &device).is_err());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
