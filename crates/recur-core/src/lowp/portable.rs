//! The portable kernels: the same numbers as the AVX-512 ones on any CPU. bf16 adds each
//! word's high product, then its low one, to an f32 sum, as `vdpbf16ps` does (a product of two
//! bf16 values is exact in f32, so each step rounds once, like the instruction); int8 sums the
//! same integers `vpdpbusd` does.

use super::{dequantise, Format, PackedRows, PackedWeights, LANES, PANEL_VECTORS};

/// Widest panel, in channels.
const PANEL: usize = PANEL_VECTORS * LANES;

/// `c (+)= A·Wᵀ` for the packed rows `rows` (`m` of them); bounds checked by the caller.
pub(super) fn run(w: &PackedWeights, rows: &PackedRows, m: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
    crate::math::dispatch(
        #[inline(always)]
        || {
            for first in (0..w.n).step_by(PANEL) {
                let panel = w.panel(first);
                let width = w.panel_vectors(first) * LANES;
                let cols = (w.n - first).min(width);
                for i in 0..m {
                    let a = &rows.words[i * w.groups..(i + 1) * w.groups];
                    let out = &mut c[i * ldc + first..i * ldc + first + cols];
                    match w.format {
                        Format::F32 => {
                            let sums = f32_sums(a, panel, width);
                            store(out, &sums, accumulate, |_, s| s);
                        }
                        Format::Bf16 => {
                            let sums = bf16_sums(a, panel, width);
                            store(out, &sums, accumulate, |_, s| s);
                        }
                        Format::Int8 => {
                            let sums = int8_sums(a, panel, width);
                            let (scale, zero_point) = (rows.scales[i], rows.zero_points[i]);
                            store(out, &sums, accumulate, |j, s| {
                                let channel = first + j;
                                dequantise(s, zero_point, w.sums[channel], scale * w.scales[channel])
                            });
                        }
                    }
                }
            }
        },
    )
}

/// Writes (or adds) `value(j, sums[j])` into each of `out`'s columns.
#[inline(always)]
fn store<S: Copy>(out: &mut [f32], sums: &[S], accumulate: bool, value: impl Fn(usize, S) -> f32) {
    for (j, (o, &s)) in out.iter_mut().zip(sums).enumerate() {
        let v = value(j, s);
        *o = if accumulate { *o + v } else { v };
    }
}

/// One row's sums of f32 products against a panel `width` channels wide, each term fused
/// (one rounding), in the order of `k`, as the AVX-512 kernel's `vfmadd` adds them.
#[inline(always)]
fn f32_sums(a: &[u32], panel: &[u32], width: usize) -> [f32; PANEL] {
    let mut sums = [0.0f32; PANEL];
    for (p, &aw) in a.iter().enumerate() {
        let a = f32::from_bits(aw);
        for (s, &ww) in sums.iter_mut().zip(&panel[p * width..(p + 1) * width]) {
            *s = a.mul_add(f32::from_bits(ww), *s);
        }
    }
    sums
}

/// One row's f32 sums against a panel `width` channels wide.
#[inline(always)]
fn bf16_sums(a: &[u32], panel: &[u32], width: usize) -> [f32; PANEL] {
    let mut sums = [0.0f32; PANEL];
    for (p, &aw) in a.iter().enumerate() {
        let (a_lo, a_hi) = bf16_halves(aw);
        for (s, &ww) in sums.iter_mut().zip(&panel[p * width..(p + 1) * width]) {
            let (w_lo, w_hi) = bf16_halves(ww);
            *s += a_hi * w_hi;
            *s += a_lo * w_lo;
        }
    }
    sums
}

/// One row's i32 sums against a panel `width` channels wide.
#[inline(always)]
fn int8_sums(a: &[u32], panel: &[u32], width: usize) -> [i32; PANEL] {
    let mut sums = [0i32; PANEL];
    for (p, &aw) in a.iter().enumerate() {
        let a_bytes = aw.to_le_bytes();
        for (s, &ww) in sums.iter_mut().zip(&panel[p * width..(p + 1) * width]) {
            let w_bytes = ww.to_le_bytes();
            for (&x, &y) in a_bytes.iter().zip(&w_bytes) {
                *s += x as i32 * (y as i8) as i32;
            }
        }
    }
    sums
}

/// The two bf16 values of a word as f32 (element `2p` is the low half).
#[inline(always)]
fn bf16_halves(word: u32) -> (f32, f32) {
    (f32::from_bits(word << 16), f32::from_bits(word & 0xffff_0000))
}
