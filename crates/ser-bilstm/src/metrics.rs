//! Classification metrics: accuracy as k/N, macro-F1, per-class recall, confusion matrix.

use serde::{Deserialize, Serialize};

/// Counts of (true class, predicted class) pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Class names, in label order.
    pub class_names: Vec<String>,
    /// `counts[true][predicted]`.
    pub counts: Vec<Vec<usize>>,
}

impl ConfusionMatrix {
    /// An empty matrix over these classes.
    pub fn new(class_names: &[impl AsRef<str>]) -> Self {
        let c = class_names.len();
        Self { class_names: class_names.iter().map(|s| s.as_ref().to_string()).collect(), counts: vec![vec![0; c]; c] }
    }

    /// Records one prediction; out-of-range classes are ignored and reported as `false`.
    pub fn add(&mut self, truth: usize, predicted: usize) -> bool {
        let c = self.counts.len();
        if truth < c && predicted < c {
            self.counts[truth][predicted] += 1;
            true
        } else {
            false
        }
    }

    /// Predictions recorded.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Predictions on the diagonal.
    pub fn correct(&self) -> usize {
        (0..self.counts.len()).map(|i| self.counts[i][i]).sum()
    }

    /// Accuracy, with its k and N.
    pub fn accuracy(&self) -> Accuracy {
        Accuracy { correct: self.correct(), total: self.total() }
    }

    /// Recall per class; `None` for classes absent from the truth.
    pub fn recall(&self) -> Vec<Option<f64>> {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: usize = row.iter().sum();
                (n > 0).then(|| row[i] as f64 / n as f64)
            })
            .collect()
    }

    /// Precision per class; `None` for classes never predicted.
    pub fn precision(&self) -> Vec<Option<f64>> {
        (0..self.counts.len())
            .map(|j| {
                let n: usize = self.counts.iter().map(|row| row[j]).sum();
                (n > 0).then(|| self.counts[j][j] as f64 / n as f64)
            })
            .collect()
    }

    /// Macro-averaged F1 over the classes present in the truth (a class never predicted has
    /// F1 0, as sklearn's `zero_division=0`).
    pub fn macro_f1(&self) -> f64 {
        let recall = self.recall();
        let precision = self.precision();
        let f1: Vec<f64> = recall
            .iter()
            .zip(&precision)
            .filter_map(|(r, p)| {
                let r = (*r)?;
                let p = p.unwrap_or(0.0);
                Some(if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 })
            })
            .collect();
        if f1.is_empty() { 0.0 } else { f1.iter().sum::<f64>() / f1.len() as f64 }
    }

    /// A fixed-width text table: rows are true classes, columns predictions, plus recall.
    pub fn to_table(&self) -> String {
        let width = self.class_names.iter().map(|n| n.len()).max().unwrap_or(4).max(6);
        let mut out = format!("{:>width$} |", "true\\pred");
        for name in &self.class_names {
            out.push_str(&format!(" {name:>width$}"));
        }
        out.push_str(" | recall\n");
        for (i, row) in self.counts.iter().enumerate() {
            out.push_str(&format!("{:>width$} |", self.class_names[i]));
            for n in row {
                out.push_str(&format!(" {n:>width$}"));
            }
            match self.recall()[i] {
                Some(r) => out.push_str(&format!(" | {r:.3}\n")),
                None => out.push_str(" | -\n"),
            }
        }
        out
    }

    /// CSV with a header row of predicted classes and a first column of true classes.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("true\\predicted");
        for name in &self.class_names {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
        for (i, row) in self.counts.iter().enumerate() {
            out.push_str(&self.class_names[i]);
            for n in row {
                out.push_str(&format!(",{n}"));
            }
            out.push('\n');
        }
        out
    }
}

/// Accuracy kept as a fraction, so reports say "128/150" rather than a rounded float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Correct predictions.
    pub correct: usize,
    /// Predictions made.
    pub total: usize,
}

impl Accuracy {
    /// `correct / total` (0 for no predictions).
    pub fn value(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.correct as f64 / self.total as f64 }
    }
}

impl std::fmt::Display for Accuracy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} = {:.5}", self.correct, self.total, self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_example() {
        let mut m = ConfusionMatrix::new(&["a", "b", "c"]);
        for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (1, 1), (2, 1)] {
            assert!(m.add(t, p));
        }
        assert!(!m.add(3, 0));
        assert_eq!(m.accuracy().to_string(), "4/6 = 0.66667");
        assert_eq!(m.recall(), vec![Some(2.0 / 3.0), Some(1.0), Some(0.0)]);
        // F1: a = 2·1·(2/3)/(5/3) = 0.8; b: p = 2/4, r = 1 → 2/3; c: 0.
        assert!((m.macro_f1() - (0.8 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert_eq!(m.to_csv(), "true\\predicted,a,b,c\na,2,1,0\nb,0,2,0\nc,0,1,0\n");
        assert!(m.to_table().contains("| 0.667"));
    }
}
