//! Small dense and Krylov eigen-solvers for the initial layout.
//!
//! Only a handful of eigenvectors of matrices with n <= ~20k rows are ever
//! needed, so a Lanczos run with full reorthogonalisation (deterministic and
//! simple) plus Jacobi on the projected matrix is enough.

/// Eigen-decomposition of a symmetric `m x m` row-major matrix by cyclic
/// Jacobi rotations. Returns eigenvalues descending and the matching unit
/// eigenvectors as columns of a row-major `m x m` matrix.
pub(crate) fn jacobi_eigh(mut a: Vec<f64>, m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; m * m];
    for i in 0..m {
        v[i * m + i] = 1.0;
    }
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..m)
            .flat_map(|i| (0..m).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * m + j] * a[i * m + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-14 * norm.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                let apq = a[p * m + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let (app, aqq) = (a[p * m + p], a[q * m + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..m {
                    let (akp, akq) = (a[k * m + p], a[k * m + q]);
                    a[k * m + p] = c * akp - s * akq;
                    a[k * m + q] = s * akp + c * akq;
                }
                for k in 0..m {
                    let (apk, aqk) = (a[p * m + k], a[q * m + k]);
                    a[p * m + k] = c * apk - s * aqk;
                    a[q * m + k] = s * apk + c * aqk;
                }
                for k in 0..m {
                    let (vkp, vkq) = (v[k * m + p], v[k * m + q]);
                    v[k * m + p] = c * vkp - s * vkq;
                    v[k * m + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| a[j * m + j].total_cmp(&a[i * m + i]).then(i.cmp(&j)));
    let vals = order.iter().map(|&i| a[i * m + i]).collect();
    let mut vecs = vec![0.0; m * m];
    for (c, &src) in order.iter().enumerate() {
        for r in 0..m {
            vecs[r * m + c] = v[r * m + src];
        }
    }
    (vals, vecs)
}

pub(crate) fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += alpha * x);
}

pub(crate) struct Ritz {
    /// Eigenvalue estimates, descending.
    #[cfg_attr(not(test), allow(dead_code))]
    pub values: Vec<f64>,
    /// One unit vector of length n per value.
    pub vectors: Vec<Vec<f64>>,
    /// Largest residual norm `|A y - theta y|` among the returned pairs.
    pub residual: f64,
}

/// Largest-algebraic `k` eigenpairs of the symmetric operator `op`
/// restricted to the orthogonal complement of the unit vectors in `deflate`.
/// Returns `None` when the Krylov space collapses before `k` directions exist.
pub(crate) fn lanczos_top(
    op: &dyn Fn(&[f64], &mut [f64]),
    n: usize,
    deflate: &[Vec<f64>],
    k: usize,
    start: Vec<f64>,
    max_steps: usize,
    tol: f64,
) -> Option<Ritz> {
    let orthogonalise = |w: &mut [f64], basis: &[Vec<f64>]| {
        // Two classical Gram–Schmidt passes: enough to keep the basis orthogonal
        // to working precision without the cost of selective schemes.
        for _ in 0..2 {
            for q in deflate.iter().chain(basis) {
                let c = dot(w, q);
                axpy(-c, q, w);
            }
        }
    };
    let mut q0 = start;
    orthogonalise(&mut q0, &[]);
    let nrm = dot(&q0, &q0).sqrt();
    if nrm.is_nan() || nrm <= 1e-12 {
        return None;
    }
    q0.iter_mut().for_each(|x| *x /= nrm);
    let mut basis = vec![q0];
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    let mut w = vec![0.0; n];
    let mut next_check = (2 * k + 8).min(max_steps);
    loop {
        let j = basis.len() - 1;
        op(&basis[j], &mut w);
        let alpha = dot(&w, &basis[j]);
        alphas.push(alpha);
        orthogonalise(&mut w, &basis);
        let beta = dot(&w, &w).sqrt();
        let m = alphas.len();
        let breakdown = beta.is_nan() || beta <= 1e-10;
        if breakdown || m >= next_check || m >= max_steps {
            let mut t = vec![0.0; m * m];
            for i in 0..m {
                t[i * m + i] = alphas[i];
                if i + 1 < m {
                    t[i * m + i + 1] = betas[i];
                    t[(i + 1) * m + i] = betas[i];
                }
            }
            let (vals, vecs) = jacobi_eigh(t, m);
            if m >= k {
                let residual = (0..k)
                    .map(|c| (beta * vecs[(m - 1) * m + c]).abs())
                    .fold(0.0, f64::max);
                let done = breakdown || residual <= tol || m >= max_steps;
                if done {
                    let vectors = (0..k)
                        .map(|c| {
                            let mut y = vec![0.0; n];
                            for (r, q) in basis.iter().enumerate() {
                                axpy(vecs[r * m + c], q, &mut y);
                            }
                            y
                        })
                        .collect();
                    let residual = if breakdown { 0.0 } else { residual };
                    return Some(Ritz {
                        values: vals[..k].to_vec(),
                        vectors,
                        residual,
                    });
                }
            } else if breakdown || m >= max_steps {
                return None;
            }
            next_check = (next_check + next_check / 2).min(max_steps);
        }
        betas.push(beta);
        basis.push(w.iter().map(|x| x / beta).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises() {
        let a = vec![4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 1.0];
        let (vals, vecs) = jacobi_eigh(a.clone(), 3);
        for c in 0..3 {
            for r in 0..3 {
                let av: f64 = (0..3).map(|k| a[r * 3 + k] * vecs[k * 3 + c]).sum();
                assert!((av - vals[c] * vecs[r * 3 + c]).abs() < 1e-10);
            }
        }
        assert!(vals[0] >= vals[1] && vals[1] >= vals[2]);
    }

    #[test]
    fn lanczos_finds_top_of_diagonal_operator() {
        let n = 50;
        let diag: Vec<f64> = (0..n).map(|i| 1.0 / (1.0 + i as f64)).collect();
        let op = |x: &[f64], y: &mut [f64]| {
            for i in 0..n {
                y[i] = diag[i] * x[i];
            }
        };
        let mut e0 = vec![0.0; n];
        e0[0] = 1.0;
        let start: Vec<f64> = (0..n).map(|i| 1.0 + (i as f64 * 0.3).sin()).collect();
        let r = lanczos_top(&op, n, &[e0], 2, start, 49, 1e-9).unwrap();
        assert!((r.values[0] - 0.5).abs() < 1e-8 && (r.values[1] - 1.0 / 3.0).abs() < 1e-8);
        assert!(r.vectors[0][1].abs() > 0.999_999);
    }
}
