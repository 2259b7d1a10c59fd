//! RAVDESS: `MM-VV-EE-II-SS-RR-AA.wav` names under `Actor_XX/` folders.

use std::path::{Path, PathBuf};

use super::Utterance;
use crate::SerError;

/// Speech or song (the name's second field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocalChannel {
    /// `01`: spoken statements.
    Speech,
    /// `02`: sung statements.
    Song,
}

/// The seven fields of a RAVDESS file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RavdessName {
    /// 01 full-AV, 02 video-only, 03 audio-only.
    pub modality: u8,
    /// Speech or song.
    pub channel: VocalChannel,
    /// 1 neutral … 8 surprised.
    pub emotion: u8,
    /// 1 normal, 2 strong.
    pub intensity: u8,
    /// 1 "Kids are talking by the door", 2 "Dogs are sitting by the door".
    pub statement: u8,
    /// 1st or 2nd repetition.
    pub repetition: u8,
    /// 1–24; odd actors are male.
    pub actor: u8,
}

impl RavdessName {
    /// Parses a file name (with or without directory and extension).
    pub fn parse(file_name: &str) -> Result<Self, SerError> {
        let stem = Path::new(file_name).file_stem().and_then(|s| s.to_str()).unwrap_or(file_name);
        let err = |reason: String| SerError::RavdessName { name: file_name.to_string(), reason };
        let fields: Vec<&str> = stem.split('-').collect();
        if fields.len() != 7 {
            return Err(err(format!("{} fields, expected 7 (MM-VV-EE-II-SS-RR-AA)", fields.len())));
        }
        let mut v = [0u8; 7];
        for (i, f) in fields.iter().enumerate() {
            if f.len() != 2 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(format!("field {} is {f:?}, expected two digits", i + 1)));
            }
            v[i] = f.parse().map_err(|_| err(format!("field {} is not a number", i + 1)))?;
        }
        let check = |ok: bool, what: &str, value: u8| {
            if ok { Ok(()) } else { Err(err(format!("{what} {value:02} out of range"))) }
        };
        check((1..=3).contains(&v[0]), "modality", v[0])?;
        check((1..=2).contains(&v[1]), "vocal channel", v[1])?;
        check((1..=8).contains(&v[2]), "emotion", v[2])?;
        check((1..=2).contains(&v[3]), "intensity", v[3])?;
        check((1..=2).contains(&v[4]), "statement", v[4])?;
        check((1..=2).contains(&v[5]), "repetition", v[5])?;
        check(v[6] >= 1, "actor", v[6])?;
        Ok(Self {
            modality: v[0],
            channel: if v[1] == 1 { VocalChannel::Speech } else { VocalChannel::Song },
            emotion: v[2],
            intensity: v[3],
            statement: v[4],
            repetition: v[5],
            actor: v[6],
        })
    }

    /// The reference's label: emotion code − 1 (index into [`crate::EMOTIONS`]).
    pub fn label(&self) -> usize {
        self.emotion as usize - 1
    }

    /// The file name this record has (`.wav`).
    pub fn file_name(&self) -> String {
        let channel = if self.channel == VocalChannel::Speech { 1 } else { 2 };
        format!(
            "{:02}-{:02}-{:02}-{:02}-{:02}-{:02}-{:02}.wav",
            self.modality, channel, self.emotion, self.intensity, self.statement, self.repetition, self.actor
        )
    }
}

/// Finds every RAVDESS `.wav` below `root` (the unzipped `Audio_Speech_Actors_01-24` folder, its
/// parent, or a folder of `Actor_XX` folders), keeping the channels asked for.
///
/// Order: paths sorted lexicographically (actor folders, then files), which is the order the
/// reference split assumes. A `.wav` whose name is not a RAVDESS name is an error, so a
/// misplaced file never silently changes the split; other files are ignored.
pub fn scan_ravdess(root: impl AsRef<Path>, channels: &[VocalChannel]) -> Result<Vec<Utterance>, SerError> {
    let mut files = Vec::new();
    collect_wavs(root.as_ref(), &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let parsed = RavdessName::parse(name).map_err(|e| match e {
            SerError::RavdessName { reason, .. } => SerError::RavdessName { name: path.display().to_string(), reason },
            other => other,
        })?;
        if channels.contains(&parsed.channel) {
            out.push(Utterance { path, label: parsed.label(), speaker: format!("{:02}", parsed.actor) });
        }
    }
    if out.is_empty() {
        return Err(SerError::Data(format!("no RAVDESS .wav files under {}", root.as_ref().display())));
    }
    Ok(out)
}

fn collect_wavs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SerError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SerError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| SerError::io(dir, e))?.path();
        if path.is_dir() {
            collect_wavs(&path, out)?;
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example_and_round_trips() {
        let n = RavdessName::parse("Actor_12/03-01-06-01-02-01-12.wav").unwrap();
        assert_eq!(
            n,
            RavdessName {
                modality: 3,
                channel: VocalChannel::Speech,
                emotion: 6,
                intensity: 1,
                statement: 2,
                repetition: 1,
                actor: 12
            }
        );
        assert_eq!(n.label(), 5);
        assert_eq!(crate::EMOTIONS[n.label()], "fearful");
        assert_eq!(n.file_name(), "03-01-06-01-02-01-12.wav");
        assert_eq!(RavdessName::parse("03-02-03-02-01-01-01.wav").unwrap().channel, VocalChannel::Song);
    }

    #[test]
    fn malformed_names_say_what_is_wrong() {
        for (name, needle) in [
            ("03-01-06-01-02-01.wav", "6 fields"),
            ("03-01-09-01-02-01-12.wav", "emotion 09"),
            ("03-01-6-01-02-01-12.wav", "two digits"),
            ("03-03-06-01-02-01-12.wav", "vocal channel"),
            ("readme.wav", "1 fields"),
        ] {
            let e = RavdessName::parse(name).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains(name), "{name}: {e}");
        }
    }
}
