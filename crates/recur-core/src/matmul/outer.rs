//! `C += Aᵀ·B` for a short `A` row (at most 64 values) over a long shared dimension: a
//! weight's gradient, `gᵀ·x` summed over every pixel or step of a batch (a convolution's 16–64
//! filters against its 27–864 im2col values, over tens of thousands of pixels).
//!
//! Both operands already lie the way a GEMM micro-kernel reads them: row `p` of `A` is the
//! `m` values that multiply row `p` of `B`, so each `p` adds one outer product `A[p]ᵀ·B[p]`
//! onto `m/16` vectors by as many columns held in registers. The `gemm` crate packs both
//! operands first, which cost a 16-filter convolution's gradient a third of its rate (57 GFLOP/s
//! on one core against 84 here, beside 198 for a square product).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows of the shared dimension summed per pass over a block of columns, the sums then added
/// into `C`: a pass's rows of `B` stay in the core's cache for the next block of columns
/// (256 and 64 measured slower on a 16-filter convolution's gradient than 1,024).
#[cfg(target_arch = "x86_64")]
const ROWS_PER_PASS: usize = 1024;

/// Whether [`add_at_b`] takes a product of `m` rows (of `C`): AVX-512, and `m` a whole
/// number of vectors that the registers hold beside their columns.
pub(super) fn takes(m: usize, k: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        m.is_multiple_of(16) && (16..=64).contains(&m) && k >= 64 && std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, k);
        false
    }
}

/// `c[i·ldc + j] += Σ_p a[p·lda + i] · b[p·ldb + j]` for `i < m`, `j < n`, `p < k`. The
/// caller has checked the bounds and [`takes`].
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub(super) fn add_at_b(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
) {
    assert!(takes(m, k));
    assert!(m <= lda && (k - 1) * lda + m <= a.len());
    assert!(n <= ldb && (k - 1) * ldb + n <= b.len());
    assert!(n <= ldc && (m - 1) * ldc + n <= c.len());
    let o = Operands { a, lda, b, ldb, k };
    // SAFETY: AVX-512F is present (`takes`); every index is inside the bounds asserted above.
    unsafe {
        match m / 16 {
            1 => columns::<1, 24>(&o, n, c, ldc),
            2 => columns::<2, 12>(&o, n, c, ldc),
            3 => columns::<3, 8>(&o, n, c, ldc),
            _ => columns::<4, 6>(&o, n, c, ldc),
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
pub(super) fn add_at_b(
    _: usize,
    _: usize,
    _: usize,
    _: &[f32],
    _: usize,
    _: &[f32],
    _: usize,
    _: &mut [f32],
    _: usize,
) {
    unreachable!("takes() is false off x86-64")
}

/// The two operands and their shared length.
#[cfg(target_arch = "x86_64")]
struct Operands<'a> {
    a: &'a [f32],
    lda: usize,
    b: &'a [f32],
    ldb: usize,
    k: usize,
}

/// Every column of `C`, `NB` at a time (then 4, then 1 for what is left), for each pass of
/// [`ROWS_PER_PASS`] rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn columns<const MV: usize, const NB: usize>(o: &Operands, n: usize, c: &mut [f32], ldc: usize) {
    for p0 in (0..o.k).step_by(ROWS_PER_PASS) {
        let rows = p0..(p0 + ROWS_PER_PASS).min(o.k);
        let mut j = 0;
        while j + NB <= n {
            tile::<MV, NB>(o, rows.clone(), j, c, ldc);
            j += NB;
        }
        while j + 4 <= n {
            tile::<MV, 4>(o, rows.clone(), j, c, ldc);
            j += 4;
        }
        while j < n {
            tile::<MV, 1>(o, rows.clone(), j, c, ldc);
            j += 1;
        }
    }
}

/// `C[.., j..j+NB] += Σ_{p in rows} A[p]ᵀ·B[p, j..j+NB]`, the `MV × NB` sums in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const MV: usize, const NB: usize>(
    o: &Operands,
    rows: std::ops::Range<usize>,
    j: usize,
    c: &mut [f32],
    ldc: usize,
) {
    let mut sums = [[_mm512_setzero_ps(); NB]; MV];
    let (a, b) = (o.a.as_ptr(), o.b.as_ptr());
    for p in rows {
        let (ap, bp) = (a.add(p * o.lda), b.add(p * o.ldb + j));
        let mut av = [_mm512_setzero_ps(); MV];
        for (v, x) in av.iter_mut().enumerate() {
            *x = _mm512_loadu_ps(ap.add(16 * v));
        }
        for col in 0..NB {
            let bv = _mm512_set1_ps(*bp.add(col));
            for v in 0..MV {
                sums[v][col] = _mm512_fmadd_ps(av[v], bv, sums[v][col]);
            }
        }
    }
    // Column `col` of the tile is 16·MV values down a column of C, `ldc` apart.
    let mut lanes = [0f32; 16];
    for (v, row) in sums.iter().enumerate() {
        for (col, &s) in row.iter().enumerate() {
            _mm512_storeu_ps(lanes.as_mut_ptr(), s);
            for (i, &lane) in lanes.iter().enumerate() {
                c[(16 * v + i) * ldc + j + col] += lane;
            }
        }
    }
}
