//! The single GEMM entry point. Every matrix product in recur goes through [`matmul`], which
//! hands it to the `gemm` crate (AVX-512 kernels chosen at run time) single-threaded: recur
//! parallelises by splitting the batch across cores, which measured faster than threading
//! each of the many small per-step products.

use crate::Float;

mod outer;

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transpose {
    /// Use the matrix as stored (row-major).
    No,
    /// Use the transpose of the stored matrix.
    Yes,
}

/// `c = A·B` (or `c += A·B` when `accumulate`), all matrices row-major.
///
/// `A` is `m×k` after applying `ta`: stored as `[m, lda]` when `ta` is `No`, `[k, lda]` when
/// `Yes`. Likewise `B` is `k×n` after `tb`. `c` is `[m, ldc]`. Leading dimensions let callers
/// address a strided slice of a bigger buffer, e.g. one time step of a `[batch, time, 4H]` array.
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    lda: usize,
    ta: Transpose,
    b: &[T],
    ldb: usize,
    tb: Transpose,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let (a_rows, a_cols) = if ta == Transpose::No { (m, k) } else { (k, m) };
    let (b_rows, b_cols) = if tb == Transpose::No { (k, n) } else { (n, k) };
    // These checks make the unsafe call below sound: every index gemm touches is in bounds.
    assert!(a_cols <= lda && (a_rows == 0 || (a_rows - 1) * lda + a_cols <= a.len()));
    assert!(b_cols <= ldb && (b_rows == 0 || (b_rows - 1) * ldb + b_cols <= b.len()));
    assert!(n <= ldc && (m - 1) * ldc + n <= c.len());
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                c[row * ldc..row * ldc + n].fill(T::ZERO);
            }
        }
        return;
    }
    if accumulate && m == 1 {
        // gemm's one-row path adds the product onto `c` in another order than its tiles do,
        // so a row's result would depend on how many rows came with it. Taking the product
        // apart and adding it as the tiles do keeps every row the same bits in any batch (a
        // drawing sampled alone equals the same drawing sampled among others).
        // The product row is the thread's kept buffer: a served drawing steps here for every
        // point of every layer, and the product overwrites it whole.
        let mut product = crate::scratch::take::<T>(n);
        matmul(1, n, k, a, lda, ta, b, ldb, tb, &mut product, n, false);
        c[..n].iter_mut().zip(&product).for_each(|(c, &p)| *c += p);
        crate::scratch::give_back(product);
        return;
    }
    if let (Transpose::Yes, Transpose::No, true, Some(a32), Some(b32)) =
        (ta, tb, accumulate, T::as_f32(a), T::as_f32(b))
    {
        if outer::takes(m, k) {
            // `as_f32` of one slice being Some means T is f32, so this one is too.
            if let Some(c32) = T::as_f32_mut(c) {
                outer::add_at_b(m, n, k, a32, lda, b32, ldb, c32, ldc);
                return;
            }
        }
    }
    let (a_rs, a_cs) = if ta == Transpose::No { (lda, 1) } else { (1, lda) };
    let (b_rs, b_cs) = if tb == Transpose::No { (ldb, 1) } else { (1, ldb) };
    // SAFETY: bounds asserted above; gemm reads a and b and writes only c's m×n window.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f64], ta: bool, b: &[f64], tb: bool) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    let av = if ta { a[p * m + i] } else { a[i * k + p] };
                    let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                    c[i * n + j] += av * bv;
                }
            }
        }
        c
    }

    #[test]
    fn all_transpose_combinations_match_naive() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| i as f64 * 0.1 - 0.4).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.37).sin()).collect();
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let want = naive(m, n, k, &a, ta, &b, tb);
            let mut c = vec![1.0; m * n];
            let t = |x| if x { Transpose::Yes } else { Transpose::No };
            let lda = if ta { m } else { k };
            let ldb = if tb { k } else { n };
            matmul(m, n, k, &a, lda, t(ta), &b, ldb, t(tb), &mut c, n, true);
            for (got, w) in c.iter().zip(&want) {
                assert!((got - (w + 1.0)).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn a_row_gets_the_same_bits_alone_as_among_others() {
        // A weight read as stored, added onto a bias: how every per-step product runs.
        for (n, k) in [(123, 16), (45, 16), (512, 128), (9, 300)] {
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 104_729 + 7) % 1000) as f32 / 517.0 - 0.9)
                .collect();
            let row = |m: usize| {
                let a: Vec<f32> = (0..m * k)
                    .map(|i| (((i % k) * 7919 + 13) % 1000) as f32 / 333.0 - 1.4)
                    .collect();
                let mut c: Vec<f32> = (0..m * n).map(|i| (i % n) as f32 * 0.01 - 0.3).collect();
                matmul(m, n, k, &a, k, Transpose::No, &b, n, Transpose::No, &mut c, n, true);
                c[..n].to_vec()
            };
            let alone = row(1);
            for m in [2, 4, 7, 16] {
                assert_eq!(row(m), alone, "{m} rows of n {n}, k {k}");
            }
        }
    }

    /// A weight's gradient `gᵀ·x` in f32 (the outer-product kernel where the CPU has AVX-512)
    /// equals the f64 product: every row count it takes, columns that fill no tile, strided
    /// operands and output, more rows than one pass, and sums added onto what `c` held.
    #[test]
    fn gradient_products_match_f64() {
        for (m, n, k) in [
            (16, 27, 2500),
            (32, 144, 1100),
            (48, 5, 64),
            (64, 13, 700),
            (17, 9, 300),
        ] {
            let (lda, ldb, ldc) = (m + 3, n + 2, n + 5);
            let a: Vec<f32> = (0..k * lda)
                .map(|i| ((i * 7919 + 13) % 1000) as f32 / 500.0 - 1.0)
                .collect();
            let b: Vec<f32> = (0..k * ldb)
                .map(|i| ((i * 104_729 + 7) % 1000) as f32 / 500.0 - 1.0)
                .collect();
            let mut c: Vec<f32> = (0..m * ldc).map(|i| (i % 11) as f32 * 0.1).collect();
            let before = c.clone();
            matmul(
                m,
                n,
                k,
                &a,
                lda,
                Transpose::Yes,
                &b,
                ldb,
                Transpose::No,
                &mut c,
                ldc,
                true,
            );
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|p| a[p * lda + i] as f64 * b[p * ldb + j] as f64)
                        .sum::<f64>()
                        + before[i * ldc + j] as f64;
                    let got = c[i * ldc + j] as f64;
                    assert!(
                        (got - want).abs() < 1e-4 * (k as f64).sqrt(),
                        "m {m} n {n} k {k} at {i},{j}: {got} vs {want}"
                    );
                }
                assert_eq!(
                    c[i * ldc + n..i * ldc + ldc],
                    before[i * ldc + n..i * ldc + ldc],
                    "past column n"
                );
            }
        }
    }
}
