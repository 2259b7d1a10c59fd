//! Word error rate with the normalisation the golden figures use, so a user can score a model
//! on their own reference transcripts the same way.

/// Edits between a reference and a hypothesis, after [`normalize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WordErrors {
    /// Reference words replaced by another.
    pub substitutions: usize,
    /// Reference words missing.
    pub deletions: usize,
    /// Words added.
    pub insertions: usize,
    /// Words in the reference.
    pub reference_words: usize,
}

impl WordErrors {
    /// `(S + D + I) / N` (0 for an empty reference with no insertions).
    pub fn rate(&self) -> f64 {
        let edits = self.substitutions + self.deletions + self.insertions;
        if self.reference_words == 0 { edits as f64 } else { edits as f64 / self.reference_words as f64 }
    }

    /// Totals of several clips (overall WER = total edits / total reference words).
    pub fn add(&mut self, other: WordErrors) {
        self.substitutions += other.substitutions;
        self.deletions += other.deletions;
        self.insertions += other.insertions;
        self.reference_words += other.reference_words;
    }
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/// English words for an integer (`27` → `twenty seven`).
pub fn number_words(n: u64) -> String {
    match n {
        0..=19 => ONES[n as usize].to_string(),
        20..=99 => {
            let t = TENS[(n / 10) as usize];
            if n.is_multiple_of(10) { t.to_string() } else { format!("{t} {}", ONES[(n % 10) as usize]) }
        }
        100..=999 => {
            let rest = n % 100;
            let h = format!("{} hundred", ONES[(n / 100) as usize]);
            if rest == 0 { h } else { format!("{h} {}", number_words(rest)) }
        }
        _ => {
            for (scale, name) in [
                (1_000_000_000_000u64, "trillion"),
                (1_000_000_000, "billion"),
                (1_000_000, "million"),
                (1_000, "thousand"),
            ] {
                if n >= scale {
                    let rest = n % scale;
                    let head = format!("{} {name}", number_words(n / scale));
                    return if rest == 0 { head } else { format!("{head} {}", number_words(rest)) };
                }
            }
            n.to_string()
        }
    }
}

/// Lower-case; `-` and `—` become spaces; characters other than a–z, 0–9, apostrophes and
/// spaces are removed; apostrophes at word edges removed; mr/mrs/dr/st spelled out; integers
/// written as English words; whitespace collapsed.
pub fn normalize(text: &str) -> Vec<String> {
    let lowered: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c == '-' || c == '—' { ' ' } else { c })
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '\'' || c.is_whitespace())
        .collect();
    let mut out = Vec::new();
    for word in lowered.split_whitespace() {
        let word = word.trim_matches('\'');
        let word = match word {
            "mr" => "mister",
            "mrs" => "missus",
            "dr" => "doctor",
            "st" => "saint",
            w => w,
        };
        if word.is_empty() {
            continue;
        }
        if word.chars().all(|c| c.is_ascii_digit())
            && let Ok(n) = word.parse::<u64>()
        {
            out.extend(number_words(n).split(' ').map(String::from));
        } else {
            out.push(word.to_string());
        }
    }
    out
}

/// Word-level Levenshtein alignment of the normalised texts.
pub fn word_errors(reference: &str, hypothesis: &str) -> WordErrors {
    let (r, h) = (normalize(reference), normalize(hypothesis));
    // cost, substitutions, deletions, insertions per cell; one row at a time.
    let mut prev: Vec<(usize, usize, usize, usize)> = (0..=h.len()).map(|j| (j, 0, 0, j)).collect();
    for i in 1..=r.len() {
        let mut row = vec![(i, 0, i, 0)];
        for j in 1..=h.len() {
            let same = r[i - 1] == h[j - 1];
            let d = prev[j - 1];
            let diag = (d.0 + usize::from(!same), d.1 + usize::from(!same), d.2, d.3);
            let up = prev[j];
            let del = (up.0 + 1, up.1, up.2 + 1, up.3);
            let left = row[j - 1];
            let ins = (left.0 + 1, left.1, left.2, left.3 + 1);
            row.push(*[diag, del, ins].iter().min_by_key(|c| c.0).unwrap_or(&diag));
        }
        prev = row;
    }
    let (_, substitutions, deletions, insertions) = prev[h.len()];
    WordErrors { substitutions, deletions, insertions, reference_words: r.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_and_counts() {
        assert_eq!(
            normalize("Mr. Dashwood's 27 ill-disposed—'cards'!"),
            ["mister", "dashwood's", "twenty", "seven", "ill", "disposed", "cards"]
        );
        assert_eq!(number_words(1_204), "one thousand two hundred four");
        let e = word_errors("ten of clubs", "10 of cloves");
        assert_eq!((e.substitutions, e.deletions, e.insertions, e.reference_words), (1, 0, 0, 3));
        let e = word_errors("a b c d", "a c d e");
        assert_eq!(e.substitutions + e.deletions + e.insertions, 2);
    }
}
