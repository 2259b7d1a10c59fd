//! Manifests: one labelled utterance per line, `path<TAB>label[<TAB>speaker]`.
//!
//! This is the reference's list format (`path\tlabel`) plus an optional speaker column. Paths
//! are audio files or feature files (`.npy`, e.g. Emotion2Vec vectors from FunASR); relative
//! paths are taken from the manifest's folder. Labels are class indices or class names from
//! [`crate::EMOTIONS`]. Without a speaker column, a RAVDESS file name gives the actor; otherwise
//! the speaker is `unknown`. Blank lines and lines starting with `#` are skipped.

use std::path::Path;

use super::{RavdessName, Utterance};
use crate::{EMOTIONS, SerError};

/// A parsed manifest line.
pub type ManifestEntry = Utterance;

/// Reads a manifest file.
pub fn read_manifest(path: impl AsRef<Path>) -> Result<Vec<ManifestEntry>, SerError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| SerError::io(path, e))?;
    parse_manifest(&text, path)
}

/// Parses manifest text; relative paths are taken from `path`'s folder, and errors name `path`
/// and the line.
pub fn parse_manifest(text: &str, path: &Path) -> Result<Vec<ManifestEntry>, SerError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |reason: String| SerError::Manifest { path: path.display().to_string(), line: i + 1, reason };
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if !(2..=3).contains(&cols.len()) {
            return Err(err(format!(
                "{} tab-separated columns, expected path, label and optional speaker",
                cols.len()
            )));
        }
        let label = match cols[1].trim().parse::<usize>() {
            Ok(n) if n < EMOTIONS.len() => n,
            Ok(n) => return Err(err(format!("label {n} is not a class index (0–{})", EMOTIONS.len() - 1))),
            Err(_) => EMOTIONS
                .iter()
                .position(|e| e.eq_ignore_ascii_case(cols[1].trim()))
                .ok_or_else(|| err(format!("label {:?} is neither a class index nor one of {EMOTIONS:?}", cols[1])))?,
        };
        if cols[0].is_empty() {
            return Err(err("empty path".into()));
        }
        let file = base.join(cols[0]);
        let speaker = match cols.get(2) {
            Some(s) if !s.trim().is_empty() => s.trim().to_string(),
            _ => cols[0]
                .rsplit(['/', '\\'])
                .next()
                .and_then(|name| RavdessName::parse(name).ok())
                .map(|n| format!("{:02}", n.actor))
                .unwrap_or_else(|| "unknown".into()),
        };
        out.push(Utterance { path: file, label, speaker });
    }
    if out.is_empty() {
        return Err(SerError::Manifest { path: path.display().to_string(), line: 0, reason: "no entries".into() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_reference_lists_names_speakers_and_reports_bad_lines() {
        let dir = std::env::temp_dir().join(format!("ser-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("train_list.txt");
        std::fs::write(&p, "# features\nfeat/03-01-05-01-01-01-07.npy\t4\nb.npy\tsad\tspk9\r\n\nc.npy\t0\n").unwrap();
        let m = read_manifest(&p).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].label, m[0].speaker.as_str()), (4, "07"));
        assert_eq!(m[0].path, dir.join("feat/03-01-05-01-01-01-07.npy"));
        assert_eq!((m[1].label, m[1].speaker.as_str()), (3, "spk9"));
        assert_eq!(m[2].speaker, "unknown");
        std::fs::write(&p, "a.npy\t0\nb.npy\tjoy\n").unwrap();
        let e = read_manifest(&p).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("joy"), "{e}");
        std::fs::write(&p, "a.npy\t8\n").unwrap();
        let e = read_manifest(&p).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("not a class index"), "{e}");
        std::fs::write(&p, "a.npy 0\n").unwrap();
        assert!(read_manifest(&p).unwrap_err().to_string().contains("line 1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
