/// A dense row-major `f32` matrix. Spectrogram-like data (audio-dsp) uses librosa's layout:
/// `[feature or frequency bin, frame]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows · cols` values, row-major.
    pub data: Vec<f32>,
}

impl Matrix {
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self { rows, cols, data: vec![0.0; rows * cols] }
    }

    /// Element at (row, col).
    pub fn get(&self, row: usize, col: usize) -> f32 {
        self.data[row * self.cols + col]
    }

    /// Row `row`.
    pub fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.cols..(row + 1) * self.cols]
    }

    /// Row `row`, mutable.
    pub fn row_mut(&mut self, row: usize) -> &mut [f32] {
        &mut self.data[row * self.cols..(row + 1) * self.cols]
    }

    /// Shape as `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// The transpose (`[cols, rows]`); per-frame work on `[bin, frame]` data is faster on it.
    pub fn transposed(&self) -> Matrix {
        let mut out = Matrix::zeros(self.cols, self.rows);
        for r in 0..self.rows {
            for (c, &v) in self.row(r).iter().enumerate() {
                out.data[c * self.rows + r] = v;
            }
        }
        out
    }

    /// `self · other` (`[r, k] · [k, c]`), accumulated in f64.
    pub fn matmul(&self, other: &Matrix) -> Matrix {
        assert_eq!(self.cols, other.rows, "matmul shape mismatch");
        let mut out = Matrix::zeros(self.rows, other.cols);
        let mut acc = vec![0f64; other.cols];
        for r in 0..self.rows {
            acc.iter_mut().for_each(|a| *a = 0.0);
            for (k, &w) in self.row(r).iter().enumerate() {
                if w == 0.0 {
                    continue;
                }
                let w = w as f64;
                for (a, &v) in acc.iter_mut().zip(other.row(k)) {
                    *a += w * v as f64;
                }
            }
            for (o, a) in out.row_mut(r).iter_mut().zip(&acc) {
                *o = *a as f32;
            }
        }
        out
    }
}
