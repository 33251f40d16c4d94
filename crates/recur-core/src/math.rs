//! Fast, branch-free f32 activation math and run-time SIMD dispatch.
//!
//! The recurrent cells spend their non-GEMM time in exp/tanh/sigmoid. libm's versions do not
//! vectorise; these do (a Cephes-style polynomial with the exponent set by bit manipulation),
//! and [`dispatch`] recompiles a kernel for AVX-512 or AVX2 at run time, so a plain
//! `cargo build --release` (baseline x86-64) still gets wide vectors. On AVX-512 the slice
//! functions run explicit vector code (`avx512`): the same polynomial, with `vscalefps` for the
//! exponent and a refined `vrcp14ps` for the division. Absolute error stays below 2e-7 over
//! the whole range, far under what f32 training notices.

#[cfg(target_arch = "x86_64")]
mod avx512;

/// e^x for f32, accurate to about 1 ulp in [-87, 88]; clamps outside so it never yields NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    exp_with::<false>(x)
}

/// `a·b + c`, fused into one rounding when `FUSED`. Only code running where the CPU has FMA
/// may ask for it: elsewhere `mul_add` is a libm call, many times slower than the two ops.
#[inline(always)]
fn madd<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

// The range reduction and polynomial of `exp_with`, shared with its AVX-512 form: e^x =
// 2ⁿ·e^r with n = round(x·log₂e) and r = x − n·ln 2 (ln 2 in two parts, so that n·LN2_HI is
// exact), e^r ≈ 1 + r + r²·p(r).
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding and removing 1.5·2²³ rounds to the nearest integer without a libm call.
const ROUND: f32 = 12_582_912.0;
/// The clamp that keeps e^x finite and non-zero (so sigmoid and tanh saturate, never NaN).
const EXP_MIN: f32 = -87.0;
const EXP_MAX: f32 = 88.0;
/// p(r), highest power first (Cephes' `expf`).
const EXP_POLYNOMIAL: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// [`exp_f32`], with the polynomial's multiply-adds fused when `FUSED`: half the instructions
/// on a latency-bound chain (measured 1.2× on the LSTM's gate math alone).
#[inline(always)]
fn exp_with<const FUSED: bool>(x: f32) -> f32 {
    let x = x.clamp(EXP_MIN, EXP_MAX);
    let shifted = madd::<FUSED>(x, LOG2E, ROUND);
    let n = shifted - ROUND;
    let r = madd::<FUSED>(-n, LN2_LO, madd::<FUSED>(-n, LN2_HI, x));
    let mut p = EXP_POLYNOMIAL[0];
    for &coefficient in &EXP_POLYNOMIAL[1..] {
        p = madd::<FUSED>(p, r, coefficient);
    }
    let y = madd::<FUSED>(p * r, r, r) + 1.0;
    // 2^n from the bits: `shifted` holds n in its low mantissa bits (its ulp is 1), so no
    // float-to-int conversion is needed. Rust's `as i32` saturates, which LLVM cannot
    // vectorise: it split every vector into scalar conversions (measured 4x slower gates).
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_int.wrapping_add(127) << 23);
    y * scale
}

/// Logistic sigmoid for f32 built on [`exp_f32`].
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    sigmoid_with::<false>(x)
}

#[inline(always)]
fn sigmoid_with<const FUSED: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp_with::<FUSED>(-x))
}

/// tanh for f32 as 2·sigmoid(2x) − 1 (absolute error below 2e-7).
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    tanh_with::<false>(x)
}

#[inline(always)]
fn tanh_with<const FUSED: bool>(x: f32) -> f32 {
    2.0 / (1.0 + exp_with::<FUSED>(-2.0 * x)) - 1.0
}

/// In-place tanh over a slice, vectorised (and fused where the CPU has FMA). Each element is
/// independent of the others, so the vector unit overlaps many of these latency-bound chains;
/// the recurrent cells call this on whole gate blocks rather than interleaving one unit's
/// gates, which measured 1.6× faster.
pub fn tanh_slice_f32(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd_level() == SimdLevel::Avx512 {
        // SAFETY: the CPU has AVX-512 (just checked).
        return unsafe { avx512::map::<true>(xs) };
    }
    map_in_place(xs, tanh_with::<true>, tanh_with::<false>)
}

/// In-place sigmoid over a slice, vectorised (and fused where the CPU has FMA).
pub fn sigmoid_slice_f32(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd_level() == SimdLevel::Avx512 {
        // SAFETY: the CPU has AVX-512 (just checked).
        return unsafe { avx512::map::<false>(xs) };
    }
    map_in_place(xs, sigmoid_with::<true>, sigmoid_with::<false>)
}

/// Applies `fused` to every element inside [`dispatch`] where the CPU has FMA, else `plain`.
#[inline(always)]
fn map_in_place(xs: &mut [f32], fused: impl Fn(f32) -> f32, plain: impl Fn(f32) -> f32) {
    if has_fma() {
        dispatch(
            #[inline(always)]
            || xs.iter_mut().for_each(|x| *x = fused(*x)),
        )
    } else {
        xs.iter_mut().for_each(|x| *x = plain(*x))
    }
}

/// Whether [`dispatch`] runs kernels with FMA (x86-64 with AVX2 or AVX-512). Elsewhere the
/// slice functions keep multiplies and adds apart; aarch64 would fuse cheaply too, but is not
/// a target we measure.
fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        simd_level() != SimdLevel::Baseline
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Runs `kernel` compiled for the widest vector unit this CPU has (AVX-512, then AVX2+FMA,
/// else the build's baseline). The kernel is inlined into a `#[target_feature]` function, so
/// loops inside it, and `#[inline(always)]` helpers they call, vectorise for that unit.
#[inline(always)]
pub fn dispatch<R>(kernel: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        match simd_level() {
            SimdLevel::Avx512 => return unsafe { run_avx512(kernel) },
            SimdLevel::Avx2 => return unsafe { run_avx2(kernel) },
            SimdLevel::Baseline => {}
        }
    }
    kernel()
}

#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq, Eq)]
enum SimdLevel {
    Baseline,
    Avx2,
    Avx512,
}

#[cfg(target_arch = "x86_64")]
fn simd_level() -> SimdLevel {
    use std::sync::OnceLock;
    static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("fma")
        {
            SimdLevel::Avx512
        } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            SimdLevel::Avx2
        } else {
            SimdLevel::Baseline
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn run_avx512<R>(kernel: impl FnOnce() -> R) -> R {
    kernel()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<R>(kernel: impl FnOnce() -> R) -> R {
    kernel()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_math_matches_libm() {
        let mut worst = [0.0f64; 3];
        let mut x = -30.0f32;
        while x < 30.0 {
            let e = (exp_f32(x) as f64 - (x as f64).exp()).abs() / (x as f64).exp();
            let t = (tanh_f32(x) as f64 - (x as f64).tanh()).abs();
            let s = (sigmoid_f32(x) as f64 - 1.0 / (1.0 + (-(x as f64)).exp())).abs();
            worst = [worst[0].max(e), worst[1].max(t), worst[2].max(s)];
            x += 0.001_7;
        }
        assert!(worst[0] < 3e-7, "exp relative error {}", worst[0]);
        assert!(worst[1] < 3e-7, "tanh absolute error {}", worst[1]);
        assert!(worst[2] < 2e-7, "sigmoid absolute error {}", worst[2]);
    }

    #[test]
    fn extremes_saturate_without_nan() {
        for x in [f32::MAX, 1e30, 100.0, -100.0, -1e30, f32::MIN] {
            assert!(exp_f32(x).is_finite());
            assert!((-1.0..=1.0).contains(&tanh_f32(x)));
            assert!((0.0..=1.0).contains(&sigmoid_f32(x)));
        }
    }

    #[test]
    fn slices_match_scalars_and_libm() {
        let xs: Vec<f32> = (0..40_000).map(|i| (i as f32 - 20_000.0) * 0.001_7).collect();
        let (mut tanh, mut sigmoid) = (xs.clone(), xs.clone());
        tanh_slice_f32(&mut tanh);
        sigmoid_slice_f32(&mut sigmoid);
        for ((&x, &t), &s) in xs.iter().zip(&tanh).zip(&sigmoid) {
            assert!((t - tanh_f32(x)).abs() < 1e-6);
            assert!((s - sigmoid_f32(x)).abs() < 1e-6);
            let x = x as f64;
            assert!((t as f64 - x.tanh()).abs() < 3e-7, "tanh({x}) = {t}");
            assert!((s as f64 - 1.0 / (1.0 + (-x).exp())).abs() < 2e-7, "sigmoid({x}) = {s}");
        }
        let mut extremes = vec![f32::MAX, 1e30, 100.0, -100.0, -1e30, f32::MIN];
        tanh_slice_f32(&mut extremes);
        assert!(extremes.iter().all(|t| (-1.0..=1.0).contains(t)));
    }
}
