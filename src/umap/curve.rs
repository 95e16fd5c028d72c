//! Fit of the low-dimensional similarity curve `1 / (1 + a d^(2b))`.

/// `(a, b)` minimising the squared error to the target curve that is 1 below
/// `min_dist` and `exp(-(d - min_dist) / spread)` above it, on 300 points of
/// `[0, 3 spread]` — the least-squares problem umap-learn's `find_ab_params`
/// hands to `scipy.optimize.curve_fit`. Solved by Levenberg–Marquardt from
/// `(1, 1)`, curve_fit's default start, with an analytic Jacobian.
pub fn find_ab_params(spread: f32, min_dist: f32) -> (f32, f32) {
    let (spread, min_dist) = (spread as f64, min_dist as f64);
    let n = 300;
    let xs: Vec<f64> = (0..n)
        .map(|i| 3.0 * spread * i as f64 / (n - 1) as f64)
        .collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|&x| {
            if x < min_dist {
                1.0
            } else {
                (-(x - min_dist) / spread).exp()
            }
        })
        .collect();
    // Residuals and the 2x2 normal equations at (a, b).
    let eval = |a: f64, b: f64| {
        let (mut cost, mut jtj, mut jtr) = (0.0, [[0.0f64; 2]; 2], [0.0f64; 2]);
        for (&x, &y) in xs.iter().zip(&ys) {
            let p = if x > 0.0 { x.powf(2.0 * b) } else { 0.0 };
            let den = 1.0 + a * p;
            let r = 1.0 / den - y;
            let ja = -p / (den * den);
            let jb = if x > 0.0 {
                -a * p * 2.0 * x.ln() / (den * den)
            } else {
                0.0
            };
            cost += r * r;
            jtj[0][0] += ja * ja;
            jtj[0][1] += ja * jb;
            jtj[1][1] += jb * jb;
            jtr[0] += ja * r;
            jtr[1] += jb * r;
        }
        jtj[1][0] = jtj[0][1];
        (cost, jtj, jtr)
    };
    let (mut a, mut b) = (1.0f64, 1.0f64);
    let mut lambda = 1e-3;
    let (mut cost, mut jtj, mut jtr) = eval(a, b);
    for _ in 0..500 {
        // Marquardt's diagonal scaling makes the damping invariant to the
        // very different sensitivities of a and b.
        let m00 = jtj[0][0] * (1.0 + lambda);
        let m11 = jtj[1][1] * (1.0 + lambda);
        let m01 = jtj[0][1];
        let det = m00 * m11 - m01 * m01;
        if det.abs() < 1e-300 {
            break;
        }
        let da = -(m11 * jtr[0] - m01 * jtr[1]) / det;
        let db = -(m00 * jtr[1] - m01 * jtr[0]) / det;
        let (na, nb) = (a + da, b + db);
        let (nc, njtj, njtr) = eval(na, nb);
        if nc.is_finite() && nc < cost {
            let converged = (cost - nc) <= 1e-15 * cost.max(1e-300)
                && da.abs() < 1e-12 * a.abs().max(1.0)
                && db.abs() < 1e-12 * b.abs().max(1.0);
            (a, b, cost, jtj, jtr) = (na, nb, nc, njtj, njtr);
            lambda = (lambda * 0.3).max(1e-12);
            if converged {
                break;
            }
        } else {
            lambda *= 10.0;
            if lambda > 1e12 {
                break;
            }
        }
    }
    (a as f32, b as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_umap_learn_defaults() {
        // umap.umap_.find_ab_params(1.0, 0.1) -> (1.5769434602697652, 0.8950608778515733)
        let (a, b) = find_ab_params(1.0, 0.1);
        assert!((a - 1.577).abs() < 2e-3, "a = {a}");
        assert!((b - 0.895).abs() < 2e-3, "b = {b}");
    }

    #[test]
    fn other_settings_match_umap_learn() {
        // /work/venv/bin/python -c "from umap.umap_ import find_ab_params as f; print(f(1.0, 0.5), f(2.0, 0.0))"
        // (umap-learn 0.5.12, scipy curve_fit)
        // -> (0.5830300203414425, 1.3341669924314914) (0.6460466719525826, 0.7904944906889044)
        let (a, b) = find_ab_params(1.0, 0.5);
        assert!(
            (a - 0.58303).abs() < 2e-3 && (b - 1.33417).abs() < 2e-3,
            "{a} {b}"
        );
        let (a, b) = find_ab_params(2.0, 0.0);
        assert!(
            (a - 0.646047).abs() < 2e-3 && (b - 0.790494).abs() < 2e-3,
            "{a} {b}"
        );
    }
}
