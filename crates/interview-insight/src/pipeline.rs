//! The pipeline: transcript and audio of one session in, a [`Report`] out.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use llama_extract::extract::clause_check::{FEELING_FILE, FeelingCheck, TOPIC_FILE, TopicCheck};
use llama_extract::extract::cue_notes;
use llama_extract::extract::grammar::TokenTrie;
use llama_extract::extract::roles::{self, RoleGuess};
use llama_extract::runtime::weights::ModelSource;
use llama_extract::{
    ExtractOptions, Extractor, KvPrecision, LlamaTokenizer, QuantLlama, QuantSession, VoiceEmotions, VoiceSegment,
    WeightFormat,
};
use ser_bilstm::{CpuBackend, Predictor};
use sha2::{Digest, Sha256};
use text_clean::{Cleaner, Speaker, Transcript};
use vad::VadConfig;

use crate::InsightError;
use crate::report::{
    AudioSummary, ExtractedBy, InputFile, REPORT_VERSION, Report, TranscriptSource, TranscriptSummary,
    UtteranceInsight, VoiceWindow,
};

/// Longest audio window classified at once (the paper classifies 5–13 segments per dialogue).
pub const MAX_WINDOW_S: f64 = 4.0;
/// Shorter windows are not classified (too little speech to say anything).
pub const MIN_WINDOW_S: f64 = 0.4;

/// One session's inputs; either may be missing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionInput {
    /// The session's id, used in the report and its file names.
    pub id: String,
    /// The transcript file (DAIC-WOZ TSV, plain, WebVTT or SRT).
    pub transcript: Option<PathBuf>,
    /// The recording (any format audio-dsp decodes).
    pub audio: Option<PathBuf>,
}

/// The loaded extraction model and its tokenizer (named apart from `llama_extract::LanguageModel`,
/// the trait any decoder implements).
struct ExtractionModel {
    model: QuantLlama,
    tokenizer: LlamaTokenizer,
    /// Built once per pipeline, shared by every session's extractor.
    trie: Arc<TokenTrie>,
    files: Vec<InputFile>,
    by: ExtractedBy,
}

/// The quality line of an adapter folder's `quality.json` (what `extract --eval … --eval-out`
/// writes for the held-out set), if it has one.
fn quality_line(adapter_dir: &Path) -> Result<Option<String>, InsightError> {
    let path = adapter_dir.join("quality.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(InsightError::Io { path: path.display().to_string(), source: e }),
    };
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| InsightError::Model(format!("{}: {e}", path.display())))?;
    let q: llama_extract::extract::eval::Quality = serde_json::from_value(doc["quality"].clone())
        .map_err(|e| InsightError::Model(format!("{}: quality: {e}", path.display())))?;
    let set = doc["set"].as_str().unwrap_or("held-out set");
    let what = if doc["decoding"].as_str().is_some_and(|d| d.contains("clause checks")) {
        "this adapter with its clause checks"
    } else {
        "this adapter"
    };
    Ok(Some(format!(
        "on {set} ({} synthetic excerpts) {what} scored emotion F1 {:.2}, topic F1 {:.2}, key-phrase recall {:.2}, {:.0} % of quotes verified; synthetic data, not a clinical validation.",
        q.excerpts,
        q.emotion.f1,
        q.topic.f1,
        q.key_phrase_recall,
        100.0 * q.grounding_rate
    )))
}

/// A speech-to-text model folder, loaded on the first session that needs it: a batch of
/// sessions that all have transcripts (every DAIC-WOZ session does) never holds Whisper's
/// weights (about 110 MB resident for tiny.en) nor hashes its `model.bin`.
struct SpeechToText {
    dir: PathBuf,
    options: asr::LoadOptions,
    /// The model and its files as reports list them (`model.bin` first), once loaded: each
    /// file is hashed once per pipeline, not once per transcribed session.
    loaded: OnceLock<(asr::Asr, Vec<InputFile>)>,
    name: String,
    /// Transcribe even when a transcript file exists (to compare).
    force: bool,
}

impl SpeechToText {
    /// The model, loaded now if this is the first call.
    fn model(&self) -> Result<&(asr::Asr, Vec<InputFile>), InsightError> {
        if let Some(loaded) = self.loaded.get() {
            return Ok(loaded);
        }
        // Two sessions racing here both load; the first to finish is kept.
        let model = asr::Asr::load(&self.dir, self.options)?;
        let files = ASR_FILES.iter().map(|f| input_file("asr_model", &self.dir.join(f))).collect::<Result<_, _>>()?;
        Ok(self.loaded.get_or_init(|| (model, files)))
    }
}

/// A speech-to-text model folder's files, as `build` checks and reports list them.
const ASR_FILES: [&str; 3] = ["model.bin", "config.json", "tokenizer.json"];

/// The configured stages. Build with [`Pipeline::builder`].
pub struct Pipeline {
    asr: Option<SpeechToText>,
    cleaner: Cleaner,
    vad: VadConfig,
    ser: Option<(Predictor<CpuBackend>, Vec<InputFile>, Option<String>)>,
    llm: Option<ExtractionModel>,
    extract: ExtractOptions,
}

/// Chooses the optional stages.
#[derive(Default)]
pub struct PipelineBuilder {
    ser_dir: Option<PathBuf>,
    model: Option<PathBuf>,
    adapter: Option<PathBuf>,
    extract: ExtractOptions,
    vad: Option<VadConfig>,
    threads: Option<usize>,
    kv_precision: KvPrecision,
    asr_dir: Option<PathBuf>,
    asr_precision: asr::WeightPrecision,
    force_asr: bool,
}

impl PipelineBuilder {
    /// A speech-emotion model folder (`model.json`, `model.safetensors`, `scaler.safetensors`;
    /// a `NOTICE` file's first line is carried into every report).
    pub fn ser_model(mut self, dir: impl Into<PathBuf>) -> Self {
        self.ser_dir = Some(dir.into());
        self
    }

    /// A GGUF file or HF checkpoint folder for extraction.
    pub fn language_model(mut self, path: impl Into<PathBuf>) -> Self {
        self.model = Some(path.into());
        self
    }

    /// A PEFT LoRA adapter applied to the language model.
    pub fn adapter(mut self, dir: impl Into<PathBuf>) -> Self {
        self.adapter = Some(dir.into());
        self
    }

    /// Options for the extraction (`llama_extract::ExtractOptions`).
    pub fn extract_options(mut self, options: ExtractOptions) -> Self {
        self.extract = options;
        self
    }

    /// A speech-to-text model folder (CTranslate2 Whisper: `model.bin`, `config.json`,
    /// `tokenizer.json`, optionally `vocabulary.txt`): sessions with audio and no transcript
    /// are transcribed on this machine. [`build`](Self::build) checks that the files are there;
    /// the weights are loaded by the first session that is transcribed, so a pipeline given a
    /// model but only sessions with transcripts never holds them.
    pub fn asr_model(mut self, dir: impl Into<PathBuf>) -> Self {
        self.asr_dir = Some(dir.into());
        self
    }

    /// `dir` when given, else the Whisper tiny.en that `scripts/fetch-models.sh` fetched, when
    /// it is there (the examples' default: sessions without a transcript get transcribed).
    pub fn asr_model_or_fetched(self, dir: Option<PathBuf>) -> Self {
        let fetched = asr::default_model_dir();
        match dir {
            Some(d) => self.asr_model(d),
            None if fetched.join("model.bin").exists() => self.asr_model(fetched),
            None => self,
        }
    }

    /// Weight precision of the speech-to-text model (default f32).
    pub fn asr_precision(mut self, precision: asr::WeightPrecision) -> Self {
        self.asr_precision = precision;
        self
    }

    /// Transcribe the audio even when a transcript file is given (the file is then ignored).
    pub fn force_asr(mut self, force: bool) -> Self {
        self.force_asr = force;
        self
    }

    /// The voice activity detector's configuration (its default otherwise).
    pub fn vad(mut self, config: VadConfig) -> Self {
        self.vad = Some(config);
        self
    }

    /// Threads for the language model's kernels (default 2).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// How the language model keeps its keys and values (default f32; f16 halves the cache,
    /// as llama.cpp does by default, and the report says so).
    pub fn kv_cache(mut self, precision: KvPrecision) -> Self {
        self.kv_precision = precision;
        self
    }

    /// Loads the models.
    pub fn build(self) -> Result<Pipeline, InsightError> {
        let mut extract = self.extract.clone();
        let ser = match &self.ser_dir {
            None => None,
            Some(dir) => {
                let predictor = Predictor::<CpuBackend>::load(dir, &Default::default())?;
                let mut files = Vec::new();
                for f in ["model.json", "model.safetensors", "scaler.safetensors"] {
                    files.push(input_file("ser_model", &dir.join(f))?);
                }
                let notice = std::fs::read_to_string(dir.join("NOTICE"))
                    .ok()
                    .and_then(|t| t.lines().next().map(|l| l.trim().to_string()))
                    .filter(|l| !l.is_empty());
                Some((predictor, files, notice))
            }
        };
        let llm = match &self.model {
            None => None,
            Some(path) => {
                let source = ModelSource::open(path)?;
                let mut files = vec![input_file(
                    "language_model",
                    &if path.is_dir() { path.join("config.json") } else { path.clone() },
                )?];
                let (config, tokenizer, weights) = (source.config()?, source.tokenizer()?, source.weights());
                let mut model = QuantLlama::from_weights(config, &weights, WeightFormat::AsLoaded)?
                    .with_threads(self.threads.unwrap_or(2))?
                    .with_kv_precision(self.kv_precision);
                let mut by = ExtractedBy {
                    model: files[0].name.clone(),
                    model_sha256: files[0].sha256.clone(),
                    adapter: None,
                    adapter_sha256: None,
                    quality: None,
                };
                if let Some(dir) = &self.adapter {
                    let adapter = lora::LoraAdapter::load(dir)?;
                    model.apply_adapter(&adapter)?;
                    // Decoding as the adapter was measured with (its generation_config.json).
                    if let Some(g) = llama_extract::GenerationConfig::read(dir)? {
                        g.apply(&mut extract.sampling);
                    }
                    let file = input_file("adapter", &dir.join("adapter_model.safetensors"))?;
                    by.adapter = dir.file_name().map(|n| n.to_string_lossy().into_owned());
                    by.adapter_sha256 = Some(file.sha256.clone());
                    by.quality = quality_line(dir)?;
                    files.push(file);
                    // The emotions and topics come from the adapter's clause checks when it has
                    // them.
                    let load_err = llama_extract::LlamaError::from;
                    if let Some(check) = FeelingCheck::load(dir, FEELING_FILE).map_err(load_err)? {
                        extract.feeling_check = Some(Arc::new(check));
                        files.push(input_file("feeling_check", &dir.join(FEELING_FILE))?);
                    }
                    if let Some(check) = TopicCheck::load(dir, TOPIC_FILE).map_err(load_err)? {
                        extract.topic_check = Some(Arc::new(check));
                        files.push(input_file("topic_check", &dir.join(TOPIC_FILE))?);
                    }
                }
                let trie = Arc::new(TokenTrie::for_tokenizer(&tokenizer)?);
                Some(ExtractionModel { model, tokenizer, trie, files, by })
            }
        };
        let asr = match &self.asr_dir {
            None if self.force_asr => {
                return Err(InsightError::Model("--asr needs a speech-to-text model folder".into()));
            }
            None => None,
            Some(dir) => {
                // A mistyped folder fails here, before any session runs; the weights load when
                // a session first needs them.
                for file in ASR_FILES {
                    if !dir.join(file).is_file() {
                        return Err(InsightError::Model(format!(
                            "speech-to-text model folder {} has no {file}",
                            dir.display()
                        )));
                    }
                }
                let options = asr::LoadOptions { precision: self.asr_precision, threads: self.threads.unwrap_or(2) };
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                Some(SpeechToText { dir: dir.clone(), options, loaded: OnceLock::new(), name, force: self.force_asr })
            }
        };
        Ok(Pipeline { asr, cleaner: Cleaner::default(), vad: self.vad.unwrap_or_default(), ser, llm, extract })
    }
}

/// SHA-256 and size of a file, named by its file name only.
pub fn input_file(role: &str, path: &Path) -> Result<InputFile, InsightError> {
    let io = |e| InsightError::Io { path: path.display().to_string(), source: e };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(InputFile { role: role.into(), name, sha256, bytes })
}

/// The longest window a speech-emotion model classifies whole: [`MAX_WINDOW_S`], or less when
/// the model crops its input (`AudioPrep::max_seconds`, 3 s for the paper's models), so that no
/// second of speech is cut off unheard.
pub fn window_limit(prep: &ser_bilstm::data::AudioPrep) -> f64 {
    prep.max_seconds.filter(|s| *s >= MIN_WINDOW_S).map_or(MAX_WINDOW_S, |s| s.min(MAX_WINDOW_S))
}

/// Splits `[start, end)` into equal windows of at most `max_s` seconds (see [`window_limit`]).
pub fn windows(start: f64, end: f64, max_s: f64) -> Vec<(f64, f64)> {
    let d = end - start;
    if d < MIN_WINDOW_S || max_s <= 0.0 {
        return Vec::new();
    }
    let n = (d / max_s).ceil().max(1.0) as usize;
    let step = d / n as f64;
    (0..n).map(|i| (start + step * i as f64, if i + 1 == n { end } else { start + step * (i + 1) as f64 })).collect()
}

/// One run's state: the report being written and what earlier stages made for later ones.
struct Session<'i> {
    input: &'i SessionInput,
    report: Report,
    /// The decoded audio and its samples at the analysis rate.
    decoded: Option<(audio_dsp::Audio, Vec<f32>)>,
    transcript: Option<Transcript>,
    cleaned: Option<text_clean::CleanedTranscript>,
    voice: Option<VoiceEmotions>,
}

impl<'i> Session<'i> {
    fn new(input: &'i SessionInput) -> Self {
        let report = Report {
            report_version: REPORT_VERSION.into(),
            session_id: input.id.clone(),
            inputs: Vec::new(),
            not_run: Vec::new(),
            notices: Vec::new(),
            transcript_source: None,
            transcript: None,
            audio: None,
            utterances: Vec::new(),
            extraction: None,
            extracted_by: None,
            timings_ms: BTreeMap::new(),
        };
        Session { input, report, decoded: None, transcript: None, cleaned: None, voice: None }
    }

    /// Records a stage's time since `t`.
    fn timed(&mut self, name: &str, t: Instant) {
        self.report.timings_ms.insert(name.to_string(), t.elapsed().as_secs_f64() * 1e3);
    }
}

impl Pipeline {
    /// A builder with no models: add the ones the sessions need.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// Runs every configured stage on `input`: audio decoding, the transcript (file or
    /// speech-to-text), voice (VAD and voice emotion), the per-utterance view, extraction.
    pub fn run(&self, input: &SessionInput) -> Result<Report, InsightError> {
        let mut s = Session::new(input);
        self.decode_stage(&mut s)?;
        self.transcript_stage(&mut s)?;
        self.voice_stage(&mut s)?;
        self.utterance_stage(&mut s)?;
        self.extraction_stage(&mut s)?;
        Ok(s.report)
    }

    /// Audio: decoded and resampled once, for speech-to-text, VAD and voice emotion.
    fn decode_stage(&self, s: &mut Session) -> Result<(), InsightError> {
        if let Some(path) = &s.input.audio {
            let t = Instant::now();
            let audio = audio_dsp::decode_path(path)?;
            let samples = audio_dsp::resample(&audio.samples, audio.sample_rate, audio_dsp::TARGET_SAMPLE_RATE)?;
            s.decoded = Some((audio, samples));
            s.timed("audio_decode", t);
        }
        Ok(())
    }

    /// The transcript file, or speech-to-text of the audio; cleaned.
    fn transcript_stage(&self, s: &mut Session) -> Result<(), InsightError> {
        let t = Instant::now();
        let (transcript, source) = self.read_or_transcribe(s.input, s.decoded.as_ref().map(|(_, x)| x.as_slice()))?;
        s.cleaned = transcript.as_ref().map(|tr| self.cleaner.clean_transcript(tr));
        s.transcript = transcript;
        if let Some(TranscriptSource::Asr { .. }) = &source {
            s.timed("speech_to_text", t);
            s.report.notices.push(
                "The transcript is machine-made (local speech-to-text): speakers are unknown and words may be wrong."
                    .into(),
            );
        } else {
            s.timed("transcript", t);
        }
        s.report.transcript_source = source;
        Ok(())
    }

    /// VAD over the audio, then the voice-emotion model over windows of each speech segment.
    fn voice_stage(&self, s: &mut Session) -> Result<(), InsightError> {
        let (Some(path), Some((audio, samples))) = (&s.input.audio, &s.decoded) else {
            s.report.not_run.push("audio analysis: no audio given".into());
            return Ok(());
        };
        let t = Instant::now();
        let rate = audio_dsp::TARGET_SAMPLE_RATE;
        let detection = vad::detect(samples, rate, &self.vad)?;
        let mut summary = AudioSummary {
            duration_s: audio.duration,
            source_sample_rate: audio.sample_rate,
            channels: audio.channels_in,
            speech_ratio: detection.speech_ratio,
            speech_segments: detection.segments.len(),
            voice: Vec::new(),
        };
        let vad_ms = t.elapsed().as_secs_f64() * 1e3;
        s.report.timings_ms.insert("audio_and_vad".into(), vad_ms);
        match &self.ser {
            None => s.report.not_run.push("voice emotion: no speech-emotion model configured".into()),
            Some((predictor, files, notice)) => {
                let t = Instant::now();
                for seg in &detection.segments {
                    for (a, b) in windows(seg.start_s, seg.end_s, window_limit(&predictor.spec.prep)) {
                        let lo = ((a * rate as f64) as usize).min(samples.len());
                        let hi = ((b * rate as f64) as usize).min(samples.len());
                        let p = predictor.predict_samples(&samples[lo..hi])?;
                        let scores: BTreeMap<String, f32> =
                            predictor.spec.class_names.iter().cloned().zip(p.probs.iter().copied()).collect();
                        let segment = VoiceSegment { start_s: a, end_s: b, scores };
                        summary.voice.push(VoiceWindow { segment, label: p.label, score: p.score });
                    }
                }
                s.voice = Some(VoiceEmotions { segments: summary.voice.iter().map(|w| w.segment.clone()).collect() });
                s.timed("voice_emotion", t);
                s.report.inputs.push(input_file("audio", path)?);
                s.report.inputs.extend(files.iter().cloned());
                s.report.notices.extend(notice.iter().cloned());
            }
        }
        if self.ser.is_none() {
            s.report.inputs.push(input_file("audio", path)?);
        }
        s.report.audio = Some(summary);
        Ok(())
    }

    /// The cleaned transcript as one row per utterance (with the voice emotion it overlaps)
    /// and its summary; the transcript's and speech-to-text model's files as inputs.
    fn utterance_stage(&self, s: &mut Session) -> Result<(), InsightError> {
        let Some(cl) = &s.cleaned else { return Ok(()) };
        let report = &mut s.report;
        if let (Some(p), Some(TranscriptSource::File { .. })) = (&s.input.transcript, &report.transcript_source) {
            report.inputs.insert(0, input_file("transcript", p)?);
        }
        if let (Some(stt), Some(TranscriptSource::Asr { .. })) = (&self.asr, &report.transcript_source) {
            report.inputs.extend(stt.model()?.1.iter().cloned());
        }
        for (i, u) in cl.utterances.iter().enumerate() {
            let v = match (&s.voice, u.start_s, u.end_s) {
                (Some(v), Some(a), Some(b)) => v.over(a, b).into_iter().next(),
                _ => None,
            };
            report.utterances.push(UtteranceInsight {
                index: i,
                speaker: u.speaker.label().to_string(),
                start_s: u.start_s,
                end_s: u.end_s,
                text: u.text.clone(),
                voice: v,
                read_as: None,
            });
        }
        report.transcript = Some(TranscriptSummary {
            utterances: cl.utterances.len(),
            participant_utterances: cl.utterances.iter().filter(|u| u.speaker == Speaker::Participant).count(),
            read_as_participant: 0,
            cleaning: cl.stats.clone(),
            participant_cleaning: cl.stats_by_speaker.get("participant").cloned(),
            cues: cue_notes(cl),
        });
        Ok(())
    }

    /// Grounded extraction from the transcript with the voice emotions in the prompt.
    fn extraction_stage(&self, s: &mut Session) -> Result<(), InsightError> {
        let Some(tr) = &s.transcript else {
            s.report.not_run.push(if s.input.audio.is_some() {
                "transcript analysis and extraction: no transcript given and no speech-to-text model configured".into()
            } else {
                "transcript analysis and extraction: no transcript given".into()
            });
            return Ok(());
        };
        match &self.llm {
            None => s.report.not_run.push("extraction: no language model configured".into()),
            Some(_) if tr.utterances.is_empty() => {
                s.report.not_run.push("extraction: the transcript has no utterances".into())
            }
            Some(llm) => {
                let t = Instant::now();
                let session = QuantSession::new(&llm.model, self.extract.context_for(llm.model.config()));
                let extractor = Extractor::with_trie(session, &llm.tokenizer, self.extract.clone(), llm.trie.clone());
                s.report.extraction = Some(extractor.extract(tr, s.voice.as_ref())?);
                if llm.model.kv_precision() == KvPrecision::F16 {
                    s.report.notices.push(
                        "The language model kept its keys and values in f16 (llama.cpp's default cache type, half \
                         the memory of the f32 default): extraction can differ slightly from the f32 runs the \
                         adapter's quality was measured with."
                            .into(),
                    );
                }
                if let Some(cleaned) = &s.cleaned
                    && let (guessed, guess) = guessed_roles(cleaned)
                    && let Some(notice) = role_guess_notice(cleaned, &guessed, guess)
                {
                    s.report.notices.push(notice);
                    // Each row says what its turn was read as, where the transcript did not say.
                    for (row, (u, g)) in
                        s.report.utterances.iter_mut().zip(cleaned.utterances.iter().zip(&guessed.utterances))
                    {
                        if u.speaker != g.speaker {
                            row.read_as = Some(g.speaker.label().to_string());
                        }
                    }
                    if let Some(t) = &mut s.report.transcript {
                        t.read_as_participant = cleaned
                            .utterances
                            .iter()
                            .zip(&guessed.utterances)
                            .filter(|(u, g)| u.speaker != Speaker::Participant && g.speaker == Speaker::Participant)
                            .count();
                    }
                }
                s.report.inputs.extend(llm.files.iter().cloned());
                s.report.extracted_by = Some(llm.by.clone());
                s.timed("extraction", t);
            }
        }
        Ok(())
    }

    /// The session's transcript and where it came from: the transcript file, unless speech-to-
    /// text is forced or there is no file but audio and a speech-to-text model.
    fn read_or_transcribe(
        &self,
        input: &SessionInput,
        samples: Option<&[f32]>,
    ) -> Result<(Option<Transcript>, Option<TranscriptSource>), InsightError> {
        let use_asr = self.asr.as_ref().is_some_and(|s| s.force || input.transcript.is_none());
        match (&self.asr, samples) {
            (Some(stt), Some(samples)) if use_asr => {
                let options = asr::SpeechOptions { vad: Some(self.vad.clone()), ..Default::default() };
                let (model, files) = stt.model()?;
                let result = asr::transcribe_speech(model, samples, &options, &mut |_, _| {})?;
                let source = TranscriptSource::Asr {
                    model: stt.name.clone(),
                    // `files` follows ASR_FILES: `model.bin` first.
                    model_sha256: files[0].sha256.clone(),
                    machine_made: true,
                    speech_s: result.speech_s,
                    segments: result.segments.len(),
                };
                Ok((Some(asr::to_transcript(&result)), Some(source)))
            }
            _ => match &input.transcript {
                Some(p) => {
                    let transcript = text_clean::parse_path(p, None)
                        .map_err(|e| InsightError::Input { path: p.display().to_string(), what: e.to_string() })?;
                    let file = input_file("transcript", p)?;
                    Ok((Some(transcript), Some(TranscriptSource::File { name: file.name, sha256: file.sha256 })))
                }
                None => Ok((None, None)),
            },
        }
    }
}

/// The transcript with its roles as extraction reads them, and how they were read.
fn guessed_roles(cleaned: &text_clean::CleanedTranscript) -> (text_clean::CleanedTranscript, RoleGuess) {
    let mut guessed = cleaned.clone();
    let guess = roles::guess_roles(&mut guessed);
    (guessed, guess)
}

/// What the report says when extraction labelled the participant's utterances itself
/// ([`roles::guess_roles`]): a transcript from speech-to-text, or two speakers known by name.
fn role_guess_notice(
    cleaned: &text_clean::CleanedTranscript,
    guessed: &text_clean::CleanedTranscript,
    guess: RoleGuess,
) -> Option<String> {
    match guess {
        RoleGuess::Unchanged => None,
        RoleGuess::ByUtterance => Some(
            "No speaker is labelled as the participant: extraction read the turns that ask, prompt or reflect \
             (\"how are things at work\", \"tell me about…\", \"that sounds hard\") as the interviewer's and the \
             rest as the participant's."
                .into(),
        ),
        RoleGuess::BySpeaker => {
            let name_of = |role: Speaker| {
                cleaned
                    .utterances
                    .iter()
                    .zip(&guessed.utterances)
                    .find(|(_, g)| g.speaker == role)
                    .map(|(u, _)| u.speaker.label().to_string())
            };
            let (participant, interviewer) = (name_of(Speaker::Participant)?, name_of(Speaker::Interviewer)?);
            Some(format!(
                "No speaker is labelled as the participant: extraction read {participant:?} as the participant and \
                 {interviewer:?}, whose turns ask more, as the interviewer."
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_into_equal_windows_the_model_hears_whole() {
        assert_eq!(windows(1.0, 3.0, 4.0), vec![(1.0, 3.0)]);
        let w = windows(0.0, 9.0, 4.0);
        assert_eq!(w.len(), 3);
        assert!(w.iter().all(|(a, b)| (b - a - 3.0).abs() < 1e-9));
        assert_eq!(w.last().unwrap().1, 9.0);
        assert!(windows(2.0, 2.3, 4.0).is_empty(), "too short to classify");
        // A model that crops at 3 s gets windows of at most 3 s: a 4 s segment is two of 2 s,
        // where one 4 s window would have lost its last second.
        let crop3 = ser_bilstm::data::AudioPrep { max_seconds: Some(3.0), db_normalize: false };
        assert_eq!(window_limit(&crop3), 3.0);
        assert_eq!(windows(0.0, 4.0, window_limit(&crop3)), vec![(0.0, 2.0), (2.0, 4.0)]);
        let whole = ser_bilstm::data::AudioPrep { max_seconds: None, db_normalize: false };
        assert_eq!(window_limit(&whole), MAX_WINDOW_S);
    }

    #[test]
    fn the_report_says_how_unlabelled_speakers_were_read() {
        let cleaned = |turns: &[(&str, &str)]| {
            let utterances =
                turns.iter().map(|(s, t)| text_clean::Utterance::new(None, None, Speaker::from_label(s), *t)).collect();
            Cleaner::default().clean_transcript(&Transcript { utterances })
        };
        let role_guess_notice = |c: &text_clean::CleanedTranscript| {
            let (guessed, guess) = guessed_roles(c);
            role_guess_notice(c, &guessed, guess)
        };
        let named = cleaned(&[("Dr Lee", "How have you been?"), ("Sam", "Tired."), ("Dr Lee", "Tell me more.")]);
        let notice = role_guess_notice(&named).unwrap();
        assert!(notice.contains("read \"Sam\" as the participant and \"Dr Lee\""), "{notice}");
        let asr = cleaned(&[("unknown", "How have you been?"), ("unknown", "Tired.")]);
        assert!(role_guess_notice(&asr).unwrap().contains("the turns that ask"));
        assert_eq!(
            role_guess_notice(&cleaned(&[("Interviewer", "How have you been?"), ("Participant", "Tired.")])),
            None
        );
    }
}
