//! Train/test splits: the reference's, speaker-independent, and speaker k-fold.

use std::collections::BTreeSet;

use super::Utterance;
use crate::SerError;

/// How to divide utterances into train and test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    /// The reference (`mser create_data.py`): per class, in the given order, every 10th item
    /// (index 0, 10, 20, …) goes to test. 1,290 / 150 on RAVDESS speech. Not
    /// speaker-independent: every actor is in both sets.
    Reference,
    /// Hold out these speakers for test.
    Speakers(Vec<String>),
    /// Hold out the last ⌈20 %⌉ of speakers in sorted order (RAVDESS speech: actors 20–24).
    HeldOutSpeakers,
    /// Speaker-grouped k-fold: speakers in sorted order are dealt round-robin into `k` folds;
    /// `fold` is the test fold.
    KFold {
        /// Number of folds.
        k: usize,
        /// The test fold, `0..k`.
        fold: usize,
    },
}

/// Indices into the utterance list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitIndices {
    /// Indices of the training utterances.
    pub train: Vec<usize>,
    /// Indices of the held-out utterances.
    pub test: Vec<usize>,
}

impl Split {
    /// Parses `reference`, `speaker`, `speaker:01,02` or `kfold:K` / `kfold:K:FOLD`.
    pub fn parse(s: &str) -> Result<Self, SerError> {
        let bad = || SerError::Config(format!("split {s:?}: expected reference, speaker[:ids], kfold:K[:FOLD]"));
        match s.split_once(':') {
            None if s == "reference" => Ok(Self::Reference),
            None if s == "speaker" => Ok(Self::HeldOutSpeakers),
            Some(("speaker", ids)) => Ok(Self::Speakers(ids.split(',').map(|x| x.trim().to_string()).collect())),
            Some(("kfold", rest)) => {
                let (k, fold) = match rest.split_once(':') {
                    Some((k, f)) => (k.parse().map_err(|_| bad())?, f.parse().map_err(|_| bad())?),
                    None => (rest.parse().map_err(|_| bad())?, 0),
                };
                if k < 2 || fold >= k {
                    return Err(bad());
                }
                Ok(Self::KFold { k, fold })
            }
            _ => Err(bad()),
        }
    }

    /// Applies the split. Fails when either side would be empty.
    pub fn apply(&self, items: &[Utterance]) -> Result<SplitIndices, SerError> {
        let speakers: Vec<String> =
            items.iter().map(|u| u.speaker.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let test_speakers: BTreeSet<String> = match self {
            Self::Reference => {
                let mut seen_per_class = std::collections::HashMap::new();
                let mut out = SplitIndices { train: Vec::new(), test: Vec::new() };
                for (i, u) in items.iter().enumerate() {
                    let n = seen_per_class.entry(u.label).or_insert(0usize);
                    if *n % 10 == 0 {
                        out.test.push(i)
                    } else {
                        out.train.push(i)
                    }
                    *n += 1;
                }
                return check(out);
            }
            Self::Speakers(ids) => {
                let unknown: Vec<&String> = ids.iter().filter(|id| !speakers.contains(id)).collect();
                if !unknown.is_empty() {
                    return Err(SerError::Config(format!("unknown test speakers {unknown:?}; have {speakers:?}")));
                }
                ids.iter().cloned().collect()
            }
            Self::HeldOutSpeakers => {
                let n_test = speakers.len().div_ceil(5);
                speakers[speakers.len() - n_test..].iter().cloned().collect()
            }
            Self::KFold { k, fold } => {
                if speakers.len() < *k {
                    return Err(SerError::Config(format!(
                        "{k}-fold needs at least {k} speakers, have {}",
                        speakers.len()
                    )));
                }
                speakers.iter().enumerate().filter(|(i, _)| i % k == *fold).map(|(_, s)| s.clone()).collect()
            }
        };
        let (test, train): (Vec<usize>, Vec<usize>) =
            (0..items.len()).partition(|&i| test_speakers.contains(&items[i].speaker));
        check(SplitIndices { train, test })
    }
}

fn check(s: SplitIndices) -> Result<SplitIndices, SerError> {
    if s.train.is_empty() || s.test.is_empty() {
        return Err(SerError::Data(format!("split leaves {} train and {} test items", s.train.len(), s.test.len())));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::RavdessName;
    use crate::data::ravdess::VocalChannel;

    /// The 1,440 RAVDESS speech names in sorted (actor, file) order.
    fn ravdess_speech() -> Vec<Utterance> {
        let mut out = Vec::new();
        for actor in 1..=24u8 {
            let mut names = Vec::new();
            for emotion in 1..=8u8 {
                for intensity in 1..=(if emotion == 1 { 1 } else { 2 }) {
                    for statement in 1..=2 {
                        for repetition in 1..=2 {
                            let n = RavdessName {
                                modality: 3,
                                channel: VocalChannel::Speech,
                                emotion,
                                intensity,
                                statement,
                                repetition,
                                actor,
                            };
                            names.push(n);
                        }
                    }
                }
            }
            names.sort_by_key(|n| n.file_name());
            for n in names {
                out.push(Utterance {
                    path: format!("Actor_{actor:02}/{}", n.file_name()).into(),
                    label: n.label(),
                    speaker: format!("{actor:02}"),
                });
            }
        }
        out
    }

    #[test]
    fn reference_split_is_1290_150() {
        let items = ravdess_speech();
        assert_eq!(items.len(), 1440);
        let s = Split::Reference.apply(&items).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (1290, 150));
        let neutral_test = s.test.iter().filter(|&&i| items[i].label == 0).count();
        assert_eq!(neutral_test, 10);
        // Not speaker-independent: test actors also appear in train.
        assert!(s.test.iter().any(|&i| s.train.iter().any(|&j| items[j].speaker == items[i].speaker)));
    }

    #[test]
    fn speaker_splits_never_share_a_speaker() {
        let items = ravdess_speech();
        for split in [Split::HeldOutSpeakers, Split::KFold { k: 5, fold: 2 }, Split::Speakers(vec!["03".into()])] {
            let s = split.apply(&items).unwrap();
            let test: BTreeSet<&str> = s.test.iter().map(|&i| items[i].speaker.as_str()).collect();
            assert!(s.train.iter().all(|&i| !test.contains(items[i].speaker.as_str())), "{split:?}");
        }
        let held = Split::HeldOutSpeakers.apply(&items).unwrap();
        assert_eq!(held.test.len(), 5 * 60);
        // The k folds cover every item exactly once.
        let mut seen = vec![0; items.len()];
        for fold in 0..5 {
            for i in (Split::KFold { k: 5, fold }).apply(&items).unwrap().test {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
        assert!(Split::Speakers(vec!["99".into()]).apply(&items).is_err());
    }

    #[test]
    fn parse() {
        assert_eq!(Split::parse("kfold:5").unwrap(), Split::KFold { k: 5, fold: 0 });
        assert_eq!(Split::parse("kfold:5:4").unwrap(), Split::KFold { k: 5, fold: 4 });
        assert_eq!(Split::parse("speaker:01,02").unwrap(), Split::Speakers(vec!["01".into(), "02".into()]));
        assert!(Split::parse("kfold:5:5").is_err());
        assert!(Split::parse("random").is_err());
    }
}
