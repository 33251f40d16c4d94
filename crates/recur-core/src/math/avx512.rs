//! The activations sixteen lanes at a time in AVX-512 instructions: the same range reduction
//! and polynomial as the scalar `exp_with`, with the two steps that have a single AVX-512
//! instruction taken by it: `vscalefps` applies 2ⁿ (the scalar form builds it from the exponent
//! bits: three integer operations and a multiply) and `vrcp14ps` with one Newton step takes the
//! reciprocal (a 512-bit `vdivps` holds the multiply port for about 10 cycles, more than the
//! polynomial). The gate math is bound by these vector operations, not by memory.
//!
use super::{EXP_MAX, EXP_MIN, EXP_POLYNOMIAL, LN2_HI, LN2_LO, LOG2E, ROUND};
use std::arch::x86_64::*;

/// `x ← tanh(x)` (`TANH`) or `x ← sigmoid(x)` over a slice, sixteen values at a time, the last
/// few through masked loads and stores.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn map<const TANH: bool>(xs: &mut [f32]) {
    // Chosen here, inside the function that enables AVX-512: a closure passed in from outside
    // does not inherit its features, and every intrinsic in it became a call (5× slower).
    let activate = |x: __m512| if TANH { tanh16(x) } else { sigmoid16(x) };
    let mut chunks = xs.chunks_exact_mut(16);
    for chunk in &mut chunks {
        _mm512_storeu_ps(chunk.as_mut_ptr(), activate(_mm512_loadu_ps(chunk.as_ptr())));
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let mask: __mmask16 = (1 << rest.len()) - 1;
        let value = activate(_mm512_maskz_loadu_ps(mask, rest.as_ptr()));
        _mm512_mask_storeu_ps(rest.as_mut_ptr(), mask, value);
    }
}

/// e^x, `x` clamped as the scalar form does, so that extreme inputs saturate.
#[inline(always)]
unsafe fn exp16(x: __m512) -> __m512 {
    let x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(EXP_MIN)), _mm512_set1_ps(EXP_MAX));
    let n = _mm512_sub_ps(
        _mm512_fmadd_ps(x, _mm512_set1_ps(LOG2E), _mm512_set1_ps(ROUND)),
        _mm512_set1_ps(ROUND),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    let mut p = _mm512_set1_ps(EXP_POLYNOMIAL[0]);
    for &coefficient in &EXP_POLYNOMIAL[1..] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(coefficient));
    }
    let y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0));
    _mm512_scalef_ps(y, n)
}

/// 1 / d for d ≥ 1: `vrcp14ps` (14 bits) refined by one Newton step, `r + r·(1 − d·r)`.
#[inline(always)]
unsafe fn reciprocal16(d: __m512) -> __m512 {
    let r = _mm512_rcp14_ps(d);
    _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0)), r)
}

/// Logistic sigmoid, 1 / (1 + e^(−x)).
#[inline(always)]
unsafe fn sigmoid16(x: __m512) -> __m512 {
    let minus_x = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN)));
    reciprocal16(_mm512_add_ps(exp16(minus_x), _mm512_set1_ps(1.0)))
}

/// tanh as 2 / (1 + e^(−2x)) − 1.
#[inline(always)]
unsafe fn tanh16(x: __m512) -> __m512 {
    let e = exp16(_mm512_mul_ps(x, _mm512_set1_ps(-2.0)));
    let r = reciprocal16(_mm512_add_ps(e, _mm512_set1_ps(1.0)));
    _mm512_fmsub_ps(r, _mm512_set1_ps(2.0), _mm512_set1_ps(1.0))
}
