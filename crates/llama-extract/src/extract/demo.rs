//! Generated interview excerpts, **synthetic and for testing/measurement only** (no clinical
//! data exists offline): interviewer questions on a topic, participant answers whose wording
//! carries an emotion, fillers and non-verbal annotations as DAIC-WOZ writes them, timestamps,
//! and matching voice-emotion segments.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use text_clean::{Speaker, Transcript, Utterance};

use super::{VoiceEmotions, VoiceSegment};

const QUESTIONS: [(&str, &[&str]); 6] = [
    ("sleep", &["how have you been sleeping lately", "tell me about your nights", "are you getting enough rest"]),
    ("work", &["how are things at work", "what's your job been like recently", "how do you feel about your workplace"]),
    ("family", &["how is your family doing", "tell me about home", "how are things with your parents"]),
    ("relationships", &["do you see your friends much", "who do you spend time with", "how are your friendships"]),
    ("health", &["how has your appetite been", "any problems with your body lately", "how do you feel physically"]),
    ("finances", &["how are you managing money", "are the bills okay", "how are your finances these days"]),
];

const SUBJECTS: [&[&str]; 6] = [
    &["my sleep", "the nights", "getting to sleep", "waking up at four"],
    &["my job", "the office", "my boss", "the deadlines"],
    &["my family", "my mother", "my brother", "home"],
    &["my friends", "the people I used to see", "my best friend", "my old group"],
    &["eating", "the headaches", "my back", "the tiredness"],
    &["the rent", "money", "the bills", "my debts"],
];

/// (voice label, phrasings).
const FEELINGS: [(&str, &[&str]); 5] = [
    ("sad", &["I just feel empty about {s}", "{s} makes me want to cry", "honestly {s} leaves me so down"]),
    ("fearful", &["I keep worrying about {s}", "{s} makes me really nervous", "I panic when I think about {s}"]),
    ("angry", &["{s} makes me furious", "I'm so fed up with {s}", "I get really irritated about {s}"]),
    ("happy", &["I think {s} is getting better", "things are improving with {s}", "I feel positive about {s} now"]),
    ("calm", &["{s} is fine, I'm pretty relaxed", "I'm at peace with {s}", "{s} doesn't bother me much"]),
];

const FILLERS: [&str; 5] = ["", "um ", "uh ", "you know ", "well "];
const CUES: [&str; 4] = ["", " <sigh>", " <laughter>", " [pause]"];
const VOICE_LABELS: [&str; 8] = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];

/// `n` excerpts of `exchanges` question–answer pairs each, with their voice emotions.
pub fn excerpts(n: usize, exchanges: usize, seed: u64) -> Vec<(Transcript, VoiceEmotions)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut utterances = Vec::new();
            let mut segments = Vec::new();
            let mut t = 0.0;
            for _ in 0..exchanges {
                let topic = rng.random_range(0..QUESTIONS.len());
                let (label, phrasings) = FEELINGS[rng.random_range(0..FEELINGS.len())];
                let q = QUESTIONS[topic].1[rng.random_range(0..QUESTIONS[topic].1.len())];
                utterances.push(Utterance::new(Some(t), Some(t + 2.0), Speaker::Interviewer, q));
                t += 2.5;
                let s = SUBJECTS[topic][rng.random_range(0..SUBJECTS[topic].len())];
                let answer = format!(
                    "{}{}{}",
                    FILLERS[rng.random_range(0..FILLERS.len())],
                    phrasings[rng.random_range(0..phrasings.len())].replace("{s}", s),
                    CUES[rng.random_range(0..CUES.len())]
                );
                let length = 2.0 + answer.len() as f64 / 15.0;
                utterances.push(Utterance::new(Some(t), Some(t + length), Speaker::Participant, answer));
                // The recogniser mostly agrees with the words, with some mass elsewhere.
                let main = 0.45 + rng.random::<f32>() * 0.4;
                let mut scores: BTreeMap<String, f32> = BTreeMap::new();
                let rest = (1.0 - main) / 7.0;
                for l in VOICE_LABELS {
                    scores.insert(l.to_string(), if l == label { main } else { rest });
                }
                segments.push(VoiceSegment { start_s: t, end_s: t + length, scores });
                t += length + 0.5;
            }
            (Transcript { utterances }, VoiceEmotions { segments })
        })
        .collect()
}
