//! The one shared similarity matrix: every image against every planned text, `[N, T]`.
//! Every protocol reads its scores from here, so the dominant cost (N·T·D multiply-adds) is
//! paid once.
//!
//! The kernel is a register-blocked product: texts are packed into panels of
//! `PANEL_WIDTH` (16) columns stored `[D][PANEL_WIDTH]`, and each task computes a
//! `TILE_ROWS` (6) × `PANEL_WIDTH` tile with all accumulators in registers, so each loaded
//! text value feeds `TILE_ROWS` multiply-adds. On x86-64 with AVX2 and FMA (detected at run
//! time) the same code is compiled with fused multiply-adds; elsewhere with plain mul + add.
//!
//! Determinism: each entry is one fixed-order sum over D, whatever the thread count. Results
//! can differ in the last bits between a machine with FMA and one without.

use rayon::prelude::*;

/// Texts per packed panel (two AVX2 vectors).
pub(crate) const PANEL_WIDTH: usize = 16;
/// Images per register tile.
pub(crate) const TILE_ROWS: usize = 6;
/// Images per parallel task: enough work to amortise task overhead, small enough to balance.
const ROWS_PER_TASK: usize = TILE_ROWS * 8;

/// Cosine similarities `[rows, cols]`, row-major: `value(image, text)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarityMatrix {
    rows: usize,
    cols: usize,
    values: Vec<f32>,
}

impl SimilarityMatrix {
    /// Number of images.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of texts.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Similarity of image `row` and text `col`.
    #[inline]
    pub fn value(&self, row: usize, col: usize) -> f32 {
        self.values[row * self.cols + col]
    }

    /// Image `row`'s similarities to every text.
    #[inline]
    pub fn row(&self, row: usize) -> &[f32] {
        &self.values[row * self.cols..(row + 1) * self.cols]
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }
}

/// Similarities of `images` (`[N, D]`, rows scaled by `image_scales`, e.g. inverse norms)
/// with unit `texts` (`[T, D]`).
pub fn similarity_matrix(
    images: &[f32],
    image_scales: &[f32],
    texts: &[f32],
    dim: usize,
) -> SimilarityMatrix {
    let rows: usize = image_scales.len();
    let cols: usize = texts.len() / dim;
    assert_eq!(images.len(), rows * dim, "images must be [N, D]");
    assert_eq!(texts.len(), cols * dim, "texts must be [T, D]");
    let panels: Vec<f32> = pack_panels(texts, cols, dim);
    let mut values: Vec<f32> = vec![0.0; rows * cols];
    if cols == 0 {
        return SimilarityMatrix { rows, cols, values };
    }
    let kernel: TileKernel = select_kernel();
    values
        .par_chunks_mut(ROWS_PER_TASK * cols)
        .enumerate()
        .for_each(|(task, out)| {
            let first_row: usize = task * ROWS_PER_TASK;
            let task_rows: usize = out.len() / cols;
            let mut tile_images: Vec<f32> = vec![0.0; TILE_ROWS * dim];
            for tile_start in (0..task_rows).step_by(TILE_ROWS) {
                let tile_rows: usize = TILE_ROWS.min(task_rows - tile_start);
                // Copy (zero-padded) so the kernel always sees a full tile.
                tile_images.fill(0.0);
                let source = &images
                    [(first_row + tile_start) * dim..(first_row + tile_start + tile_rows) * dim];
                tile_images[..source.len()].copy_from_slice(source);
                for (panel_index, panel) in panels.chunks_exact(PANEL_WIDTH * dim).enumerate() {
                    let mut tile: [[f32; PANEL_WIDTH]; TILE_ROWS] = [[0.0; PANEL_WIDTH]; TILE_ROWS];
                    kernel(&tile_images, panel, dim, &mut tile);
                    let col_start: usize = panel_index * PANEL_WIDTH;
                    let panel_cols: usize = PANEL_WIDTH.min(cols - col_start);
                    for (offset, tile_row) in tile.iter().enumerate().take(tile_rows) {
                        let row: usize = tile_start + offset;
                        let scale: f32 = image_scales[first_row + row];
                        let out_row =
                            &mut out[row * cols + col_start..row * cols + col_start + panel_cols];
                        for (value, &dot) in out_row.iter_mut().zip(tile_row) {
                            *value = dot * scale;
                        }
                    }
                }
            }
        });
    SimilarityMatrix { rows, cols, values }
}

/// Reorders `[T, D]` texts into zero-padded `[panel][D][PANEL_WIDTH]` panels.
fn pack_panels(texts: &[f32], cols: usize, dim: usize) -> Vec<f32> {
    let panel_count: usize = cols.div_ceil(PANEL_WIDTH);
    let mut panels: Vec<f32> = vec![0.0; panel_count * dim * PANEL_WIDTH];
    for (col, text) in texts.chunks_exact(dim).enumerate() {
        let (panel, lane) = (col / PANEL_WIDTH, col % PANEL_WIDTH);
        let base: usize = panel * dim * PANEL_WIDTH + lane;
        for (d, &value) in text.iter().enumerate() {
            panels[base + d * PANEL_WIDTH] = value;
        }
    }
    panels
}

type TileKernel = fn(&[f32], &[f32], usize, &mut [[f32; PANEL_WIDTH]; TILE_ROWS]);

fn select_kernel() -> TileKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return tile_fused_checked;
        }
    }
    tile_portable
}

fn tile_portable(
    images: &[f32],
    panel: &[f32],
    dim: usize,
    tile: &mut [[f32; PANEL_WIDTH]; TILE_ROWS],
) {
    tile_generic::<false>(images, panel, dim, tile);
}

#[cfg(target_arch = "x86_64")]
fn tile_fused_checked(
    images: &[f32],
    panel: &[f32],
    dim: usize,
    tile: &mut [[f32; PANEL_WIDTH]; TILE_ROWS],
) {
    // SAFETY: only selected by `select_kernel` after detecting AVX2 and FMA.
    unsafe { tile_fused(images, panel, dim, tile) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_fused(
    images: &[f32],
    panel: &[f32],
    dim: usize,
    tile: &mut [[f32; PANEL_WIDTH]; TILE_ROWS],
) {
    tile_generic::<true>(images, panel, dim, tile);
}

/// `tile[i][j] = Σ_d images[i][d] · panel[d][j]`. Fixed-size inner loops let the compiler
/// keep the whole tile in vector registers.
#[inline(always)]
fn tile_generic<const FUSED: bool>(
    images: &[f32],
    panel: &[f32],
    dim: usize,
    tile: &mut [[f32; PANEL_WIDTH]; TILE_ROWS],
) {
    let images: &[f32] = &images[..TILE_ROWS * dim];
    let panel: &[f32] = &panel[..dim * PANEL_WIDTH];
    let mut acc: [[f32; PANEL_WIDTH]; TILE_ROWS] = [[0.0; PANEL_WIDTH]; TILE_ROWS];
    for (d, texts) in panel.chunks_exact(PANEL_WIDTH).enumerate() {
        let texts: &[f32; PANEL_WIDTH] = texts.try_into().expect("panel row");
        for (i, acc_row) in acc.iter_mut().enumerate() {
            let a: f32 = images[i * dim + d];
            for (sum, &b) in acc_row.iter_mut().zip(texts) {
                *sum = if FUSED {
                    a.mul_add(b, *sum)
                } else {
                    a * b + *sum
                };
            }
        }
    }
    *tile = acc;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_dot_products_on_ragged_shapes() {
        let (rows, cols, dim) = (13, 37, 9);
        let images: Vec<f32> = (0..rows * dim)
            .map(|i| ((i * 7 % 11) as f32) - 5.0)
            .collect();
        let texts: Vec<f32> = (0..cols * dim)
            .map(|i| ((i * 5 % 13) as f32) - 6.0)
            .collect();
        let scales: Vec<f32> = (0..rows).map(|i| 1.0 + i as f32).collect();
        let matrix: SimilarityMatrix = similarity_matrix(&images, &scales, &texts, dim);
        for r in 0..rows {
            for c in 0..cols {
                let dot: f32 = (0..dim)
                    .map(|d| images[r * dim + d] * texts[c * dim + d])
                    .sum();
                assert_eq!(matrix.value(r, c), dot * scales[r], "({r}, {c})");
            }
        }
    }
}
