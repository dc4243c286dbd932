//! The little dense linear algebra the models need, hand-written (ADR 0006): vector kernels,
//! a small Cholesky solve (ALS fold-in) and a blocked, parallel inverse of a symmetric
//! positive-definite matrix (EASE).

use rayon::prelude::*;

use crate::{Error, Result};

/// `a · b` for `f32` slices of equal length, with eight accumulators so it vectorises.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// `y += a · x`.
#[inline]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

#[inline]
fn dot64(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = acc[0] + acc[1] + acc[2] + acc[3];
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[inline]
fn axpy64(a: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `y = M x` for a row-major `n × n` matrix, four rows at a time (sharing the loads of `x`).
#[inline]
pub fn matvec(m: &[f32], x: &[f32], y: &mut [f32]) {
    let n = x.len();
    if !n.is_multiple_of(8) {
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = dot(&m[i * n..(i + 1) * n], x);
        }
        return;
    }
    let mut i = 0;
    while i + 4 <= n {
        let (r0, r1, r2, r3) = (
            &m[i * n..(i + 1) * n],
            &m[(i + 1) * n..(i + 2) * n],
            &m[(i + 2) * n..(i + 3) * n],
            &m[(i + 3) * n..(i + 4) * n],
        );
        let mut acc = [[0f32; 8]; 4];
        for c in (0..n).step_by(8) {
            let xv = &x[c..c + 8];
            for l in 0..8 {
                acc[0][l] += r0[c + l] * xv[l];
                acc[1][l] += r1[c + l] * xv[l];
                acc[2][l] += r2[c + l] * xv[l];
                acc[3][l] += r3[c + l] * xv[l];
            }
        }
        for (k, a) in acc.iter().enumerate() {
            y[i + k] = a.iter().sum();
        }
        i += 4;
    }
    for (k, yi) in y.iter_mut().enumerate().skip(i) {
        *yi = dot(&m[k * n..(k + 1) * n], x);
    }
}

/// Solves `A x = b` for a small symmetric positive-definite `n × n` matrix (row-major, only
/// the lower triangle is read; overwritten with its Cholesky factor). `b` becomes `x`.
/// `None` if `A` is not positive definite.
pub fn cholesky_solve(a: &mut [f64], b: &mut [f64]) -> Option<()> {
    let n = b.len();
    for j in 0..n {
        for c in 0..j {
            let s = a[j * n + c] - dot64(&a[j * n..j * n + c], &a[c * n..c * n + c]);
            a[j * n + c] = s / a[c * n + c];
        }
        let d = a[j * n + j] - dot64(&a[j * n..j * n + j], &a[j * n..j * n + j]);
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        a[j * n + j] = d.sqrt();
    }
    // L y = b
    for i in 0..n {
        b[i] = (b[i] - dot64(&a[i * n..i * n + i], &b[..i])) / a[i * n + i];
    }
    // Lᵀ x = y
    for i in (0..n).rev() {
        b[i] /= a[i * n + i];
        let xi = b[i];
        let (head, _) = b.split_at_mut(i);
        axpy64(-xi, &a[i * n..i * n + i], head);
    }
    Some(())
}

const NB: usize = 64;

/// In-place blocked Cholesky `A = L Lᵀ` of a row-major `n × n` SPD matrix (lower triangle
/// read and overwritten; the upper triangle is left as it was). Panel solves and trailing
/// updates run in parallel over rows.
pub fn cholesky_blocked(a: &mut [f64], n: usize) -> Result<()> {
    let not_spd =
        || Error::Param("matrix is not positive definite; raise the regularization".into());
    let mut panel = Vec::new();
    for k0 in (0..n).step_by(NB) {
        let k1 = (k0 + NB).min(n);
        // 1. The diagonal block.
        for j in k0..k1 {
            for c in k0..j {
                let s = a[j * n + c] - dot64(&a[j * n + k0..j * n + c], &a[c * n + k0..c * n + c]);
                a[j * n + c] = s / a[c * n + c];
            }
            let d = a[j * n + j] - dot64(&a[j * n + k0..j * n + j], &a[j * n + k0..j * n + j]);
            if d <= 0.0 || !d.is_finite() {
                return Err(not_spd());
            }
            a[j * n + j] = d.sqrt();
        }
        if k1 == n {
            break;
        }
        let (top, bottom) = a.split_at_mut(k1 * n);
        let top: &[f64] = top;
        // 2. The panel below it.
        bottom.par_chunks_mut(n).for_each(|row| {
            for c in k0..k1 {
                let s = row[c] - dot64(&row[k0..c], &top[c * n + k0..c * n + c]);
                row[c] = s / top[c * n + c];
            }
        });
        // 3. The trailing matrix: A[i][j] -= L[i][k0..k1] · L[j][k0..k1].
        let w = k1 - k0;
        panel.clear();
        for row in bottom.chunks(n) {
            panel.extend_from_slice(&row[k0..k1]);
        }
        let panel = &panel;
        bottom
            .par_chunks_mut(n)
            .enumerate()
            .with_max_len(8)
            .for_each(|(r, row)| {
                let pi = &panel[r * w..(r + 1) * w];
                for (j, pj) in panel.chunks_exact(w).take(r + 1).enumerate() {
                    row[k1 + j] -= dot64(pi, pj);
                }
            });
    }
    Ok(())
}

/// The inverse of a symmetric positive-definite `n × n` matrix (row-major, full), through a
/// blocked Cholesky, `W = L⁻¹` by column panels in parallel, and `A⁻¹ = Wᵀ W`.
pub fn spd_inverse(mut a: Vec<f64>, n: usize) -> Result<Vec<f64>> {
    if a.len() != n * n {
        return Err(Error::Param(format!(
            "matrix has {} entries, not {n}²",
            a.len()
        )));
    }
    cholesky_blocked(&mut a, n)?;
    let l = &a;
    let starts: Vec<usize> = (0..n).step_by(NB).collect();
    // Panel p holds W[j0..n][j0..j1] (rows j0..n), row-major with width j1 - j0.
    let panels: Vec<Vec<f64>> = starts
        .par_iter()
        .map(|&j0| {
            let j1 = (j0 + NB).min(n);
            let w = j1 - j0;
            let mut p = vec![0f64; (n - j0) * w];
            let mut row = vec![0f64; w];
            for i in j0..n {
                row.iter_mut().for_each(|v| *v = 0.0);
                if i < j1 {
                    row[i - j0] = 1.0;
                }
                let li = &l[i * n..i * n + i];
                for k in j0..i {
                    let f = li[k];
                    if f != 0.0 {
                        axpy64(-f, &p[(k - j0) * w..(k - j0 + 1) * w], &mut row);
                    }
                }
                let d = 1.0 / l[i * n + i];
                for (dst, v) in p[(i - j0) * w..(i - j0 + 1) * w].iter_mut().zip(&row) {
                    *dst = v * d;
                }
            }
            p
        })
        .collect();
    // Blocks (A, B), B ≤ A, of Wᵀ W: sum over k ≥ a0 of W[k][A]ᵀ W[k][B].
    let pairs: Vec<(usize, usize)> = (0..starts.len())
        .flat_map(|x| (0..=x).map(move |y| (x, y)))
        .collect();
    let blocks: Vec<Vec<f64>> = pairs
        .par_iter()
        .map(|&(x, y)| {
            let (a0, b0) = (starts[x], starts[y]);
            let wa = (a0 + NB).min(n) - a0;
            let wb = (b0 + NB).min(n) - b0;
            let (pa, pb) = (&panels[x], &panels[y]);
            let mut out = vec![0f64; wa * wb];
            for k in a0..n {
                let ra = &pa[(k - a0) * wa..(k - a0 + 1) * wa];
                let rb = &pb[(k - b0) * wb..(k - b0 + 1) * wb];
                for (ai, &va) in ra.iter().enumerate() {
                    if va != 0.0 {
                        axpy64(va, rb, &mut out[ai * wb..(ai + 1) * wb]);
                    }
                }
            }
            out
        })
        .collect();
    drop(panels);
    let mut inv = a;
    for (&(x, y), blk) in pairs.iter().zip(&blocks) {
        let (a0, b0) = (starts[x], starts[y]);
        let wa = (a0 + NB).min(n) - a0;
        let wb = (b0 + NB).min(n) - b0;
        for ai in 0..wa {
            for bi in 0..wb {
                let v = blk[ai * wb + bi];
                inv[(a0 + ai) * n + b0 + bi] = v;
                inv[(b0 + bi) * n + a0 + ai] = v;
            }
        }
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-conditioned SPD matrix: M Mᵀ + n I for a fixed pseudo-random M.
    fn spd(n: usize) -> Vec<f64> {
        let mut s = 12345u64;
        let m: Vec<f64> = (0..n * n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f64 / (1u64 << 31) as f64) - 0.5
            })
            .collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = dot64(&m[i * n..(i + 1) * n], &m[j * n..(j + 1) * n]);
            }
            a[i * n + i] += n as f64;
        }
        a
    }

    #[test]
    fn inverse_times_matrix_is_identity() {
        for n in [1, 5, 64, 150] {
            let a = spd(n);
            let inv = spd_inverse(a.clone(), n).expect("spd");
            for i in 0..n {
                for j in 0..n {
                    let v: f64 = (0..n).map(|k| a[i * n + k] * inv[k * n + j]).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((v - want).abs() < 1e-9, "n={n} ({i},{j}) = {v}");
                }
            }
        }
    }

    #[test]
    fn small_solve_matches() {
        let n = 7;
        let a = spd(n);
        let x: Vec<f64> = (0..n).map(|i| i as f64 - 3.0).collect();
        let mut b: Vec<f64> = (0..n).map(|i| dot64(&a[i * n..(i + 1) * n], &x)).collect();
        let mut f = a.clone();
        cholesky_solve(&mut f, &mut b).expect("spd");
        for (got, want) in b.iter().zip(&x) {
            assert!((got - want).abs() < 1e-9);
        }
        let mut neg = vec![-1.0];
        assert!(cholesky_solve(&mut neg, &mut [1.0]).is_none());
    }

    #[test]
    fn dot_handles_remainders() {
        let a: Vec<f32> = (0..13).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..13).map(|i| (i * i) as f32).sum::<f32>());
    }
}
