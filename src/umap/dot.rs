//! Blocked dot products, the only O(n^2 d) work in a fit.
//!
//! Rust never reassociates float sums, so a plain loop does not vectorise;
//! the kernels keep explicit 8-lane partial sums instead. The AVX2/FMA path is
//! chosen at run time, so results are bit-identical across runs on one
//! machine but may differ in the last bits between machines.

/// `out[i * b_rows + j] = <a_i, b_j>` for row-major `a` (`a_rows x dim`) and `b` (`b_rows x dim`).
pub(crate) fn dot_tile(a: &[f32], b: &[f32], dim: usize, out: &mut [f32]) {
    let a_rows = a.len() / dim;
    let b_rows = b.len() / dim;
    debug_assert_eq!(out.len(), a_rows * b_rows);
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the required CPU features were detected just above.
            unsafe { avx2::dot_tile(a, b, dim, out) };
            return;
        }
    }
    portable_tile(a, b, dim, out, a_rows, b_rows);
}

fn portable_tile(a: &[f32], b: &[f32], dim: usize, out: &mut [f32], a_rows: usize, b_rows: usize) {
    for i in 0..a_rows {
        let ai = &a[i * dim..(i + 1) * dim];
        for j in 0..b_rows {
            out[i * b_rows + j] = dot_portable(ai, &b[j * dim..(j + 1) * dim]);
        }
    }
}

fn dot_portable(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut xc = x.chunks_exact(8);
    let mut yc = y.chunks_exact(8);
    for (xs, ys) in (&mut xc).zip(&mut yc) {
        for l in 0..8 {
            acc[l] += xs[l] * ys[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (u, v) in xc.remainder().iter().zip(yc.remainder()) {
        s += u * v;
    }
    s
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    const MR: usize = 4;
    const NR: usize = 3;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// One `MR x NR` block of dot products: 12 accumulators plus 7 loads per
    /// step keep the FMA units busy without spilling the 16 ymm registers.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn micro(a: *const f32, b: *const f32, dim: usize, out: &mut [[f32; NR]; MR]) {
        let mut acc = [[_mm256_setzero_ps(); NR]; MR];
        let steps = dim / 8;
        for s in 0..steps {
            let o = s * 8;
            let bv = [
                _mm256_loadu_ps(b.add(o)),
                _mm256_loadu_ps(b.add(dim + o)),
                _mm256_loadu_ps(b.add(2 * dim + o)),
            ];
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let av = _mm256_loadu_ps(a.add(r * dim + o));
                for (c, acc_rc) in acc_r.iter_mut().enumerate() {
                    *acc_rc = _mm256_fmadd_ps(av, bv[c], *acc_rc);
                }
            }
        }
        for r in 0..MR {
            for c in 0..NR {
                let mut s = hsum(acc[r][c]);
                for p in steps * 8..dim {
                    s += *a.add(r * dim + p) * *b.add(c * dim + p);
                }
                out[r][c] = s;
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot1(x: *const f32, y: *const f32, dim: usize) -> f32 {
        let mut acc = _mm256_setzero_ps();
        let steps = dim / 8;
        for s in 0..steps {
            acc = _mm256_fmadd_ps(
                _mm256_loadu_ps(x.add(s * 8)),
                _mm256_loadu_ps(y.add(s * 8)),
                acc,
            );
        }
        let mut s = hsum(acc);
        for p in steps * 8..dim {
            s += *x.add(p) * *y.add(p);
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_tile(a: &[f32], b: &[f32], dim: usize, out: &mut [f32]) {
        let a_rows = a.len() / dim;
        let b_rows = b.len() / dim;
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        let a_full = a_rows - a_rows % MR;
        let b_full = b_rows - b_rows % NR;
        let mut block = [[0.0f32; NR]; MR];
        // b-blocks outermost: three b rows stay in L1 while the a block streams from L2.
        for j in (0..b_full).step_by(NR) {
            for i in (0..a_full).step_by(MR) {
                micro(ap.add(i * dim), bp.add(j * dim), dim, &mut block);
                for (r, row) in block.iter().enumerate() {
                    out[(i + r) * b_rows + j..(i + r) * b_rows + j + NR].copy_from_slice(row);
                }
            }
            for i in a_full..a_rows {
                for c in 0..NR {
                    out[i * b_rows + j + c] = dot1(ap.add(i * dim), bp.add((j + c) * dim), dim);
                }
            }
        }
        for j in b_full..b_rows {
            for i in 0..a_rows {
                out[i * b_rows + j] = dot1(ap.add(i * dim), bp.add(j * dim), dim);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_matches_naive_dot() {
        let dim = 21;
        let a: Vec<f32> = (0..7 * dim)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let b: Vec<f32> = (0..5 * dim)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 30.0)
            .collect();
        let mut out = vec![0.0; 35];
        dot_tile(&a, &b, dim, &mut out);
        for i in 0..7 {
            for j in 0..5 {
                let naive: f64 = (0..dim)
                    .map(|p| a[i * dim + p] as f64 * b[j * dim + p] as f64)
                    .sum();
                assert!((out[i * 5 + j] as f64 - naive).abs() < 1e-4, "({i},{j})");
            }
        }
    }
}
