//! The AVX2 kernels, for x86 CPUs without the AVX-512 dot-product instructions (AMD Zen 2 and
//! 3, Intel before Ice Lake): the same numbers as the portable path, several times faster.
//!
//! - **int8**: `vpmaddubsw` multiplies each activation word's four `u8` by a panel word's four
//!   `i8` weights and sums adjacent pairs into `i16`, then `vpmaddwd` by ones sums each pair of
//!   those into one `i32` lane per channel: the word's four products, as `vpdpbusd` sums them.
//!   `vpmaddubsw` saturates, but weights are quantised to −63..=63, so a pair is at most
//!   2·255·63 = 32,130 and never reaches 32,767: the sums are the same integers as the other
//!   paths'. Two multiply instructions per 32 products, where widening the weights to `i16`
//!   for `vpmaddwd` alone took two per 16 (measured 1.8× the products per second on a Zen 3).
//! - **bf16**: a bf16 value is the high half of an f32, so a shift or a mask makes the panel's
//!   words f32 operands; each product is exact in f32, so `vfmadd` rounds once per term, as the
//!   portable path's add does, in the same order (a word's high product, then its low one).

use super::{Format, Output, PackedRows, PackedWeights, Tile, LANES};
use std::arch::x86_64::*;

/// Output channels per 256-bit vector of f32 or i32 sums.
const WIDTH: usize = 8;
/// Rows per int8 tile of 16 channels: 5 rows × 2 vectors = 10 accumulators, with the two
/// weight vectors, the ones, the broadcast and the pair sums 15 of the 16 registers (measured
/// 3–6% faster than 4 × 16 or 6 × 8 on a Zen 3: fewer broadcasts per multiply).
const INT8_ROWS: usize = 5;
/// Rows per bf16 tile of 16 channels: 4 rows × 2 vectors = 8 accumulators, with the two
/// weight vectors as stored, their two f32 halves and the broadcast 13 of the 16.
const BF16_ROWS: usize = 4;
/// Activations per row block (16 KiB of f32 or widened words): the block is re-read once per
/// weight panel, so it should stay in L1 beside the panel.
const ROW_BLOCK_BYTES: usize = 16384;

/// True when this CPU runs the AVX2 kernels (either format).
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// `c (+)= A·Wᵀ` on the AVX2 kernel of `w`'s format.
///
/// # Safety
/// The CPU must have AVX2 and FMA ([`available`]), and `out` must hold `m` rows of `ldc ≥ n`
/// values (as `rows` holds `m` rows of `w.groups` words).
pub(super) unsafe fn run(w: &PackedWeights, rows: &PackedRows, m: usize, out: Output) {
    match w.format {
        Format::F32 => unreachable!("f32 has no AVX2 kernel: `PackedWeights::run` sends it to the portable one"),
        Format::Bf16 => run_bf16(w, rows, m, out),
        Format::Int8 => run_int8(w, rows, m, out),
    }
}

/// Calls `visit(first_row, rows, first_channel, panel, panel_width)` for each tile position:
/// row blocks of `block` rows, then panels, then tiles of up to `tile_rows` rows.
#[inline(always)]
fn for_each_panel_tile(
    w: &PackedWeights,
    m: usize,
    block: usize,
    tile_rows: usize,
    mut visit: impl FnMut(usize, usize, usize, &[u32], usize),
) {
    let panel_width = super::PANEL_VECTORS * LANES;
    for block_start in (0..m).step_by(block) {
        let block_end = (block_start + block).min(m);
        for first in (0..w.n).step_by(panel_width) {
            let panel = w.panel(first);
            let width = w.panel_vectors(first) * LANES;
            for i in (block_start..block_end).step_by(tile_rows) {
                visit(i, (block_end - i).min(tile_rows), first, panel, width);
            }
        }
    }
}

/// Rows per block, a multiple of `tile_rows`, for rows of `row_bytes` bytes.
fn block_rows(row_bytes: usize, tile_rows: usize) -> usize {
    (ROW_BLOCK_BYTES / row_bytes.max(1)).div_ceil(tile_rows).max(1) * tile_rows
}

#[target_feature(enable = "avx2,fma")]
unsafe fn run_int8(w: &PackedWeights, rows: &PackedRows, m: usize, out: Output) {
    let block = block_rows(w.groups * 4, INT8_ROWS);
    for_each_panel_tile(w, m, block, INT8_ROWS, |i, tile_rows, first, panel, width| {
        for start in (0..(w.n - first).min(width)).step_by(2 * WIDTH) {
            let tile = Tile {
                a: rows.words.as_ptr().add(i * w.groups),
                w: panel.as_ptr().add(start),
                stride: width,
                ..Tile::new(w, rows, out, i, first + start, 2 * WIDTH)
            };
            match tile_rows {
                5 => tile_int8::<5>(&tile),
                4 => tile_int8::<4>(&tile),
                3 => tile_int8::<3>(&tile),
                2 => tile_int8::<2>(&tile),
                _ => tile_int8::<1>(&tile),
            }
        }
    });
}

/// `ROWS` rows × 16 channels of int8 sums, scaled back to f32.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_int8<const ROWS: usize>(t: &Tile<u32>) {
    // acc[r][v]: channels 8v..8v+8 of row r, one i32 lane each.
    let mut acc = [[_mm256_setzero_si256(); 2]; ROWS];
    let ones = _mm256_set1_epi16(1);
    for p in 0..t.groups {
        let wp = t.w.add(p * t.stride) as *const __m256i;
        let weights = [_mm256_loadu_si256(wp), _mm256_loadu_si256(wp.add(1))];
        for (r, acc) in acc.iter_mut().enumerate() {
            let a = _mm256_set1_epi32(*t.a.add(r * t.groups + p) as i32);
            for v in 0..2 {
                let pairs = _mm256_maddubs_epi16(a, weights[v]);
                acc[v] = _mm256_add_epi32(acc[v], _mm256_madd_epi16(pairs, ones));
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (v, &sums) in acc.iter().enumerate() {
            // The same operations, in the same order, as `super::dequantise`.
            let weight_sums = _mm256_loadu_si256(t.channel_sums.add(v * WIDTH) as *const _);
            let channel_scales = _mm256_loadu_ps(t.channel_scales.add(v * WIDTH));
            let scales = _mm256_mul_ps(_mm256_set1_ps(*t.row_scales.add(r)), channel_scales);
            let zero_point = _mm256_set1_epi32(*t.zero_points.add(r));
            let corrected = _mm256_sub_epi32(sums, _mm256_mullo_epi32(zero_point, weight_sums));
            store(t, r, v, _mm256_mul_ps(_mm256_cvtepi32_ps(corrected), scales));
        }
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn run_bf16(w: &PackedWeights, rows: &PackedRows, m: usize, out: Output) {
    // Each activation word as its two f32 values, high first (the order of the products).
    let halves: Vec<[f32; 2]> = rows
        .words
        .iter()
        .map(|&word| [f32::from_bits(word & 0xffff_0000), f32::from_bits(word << 16)])
        .collect();
    let block = block_rows(w.groups * 8, BF16_ROWS);
    for_each_panel_tile(w, m, block, BF16_ROWS, |i, tile_rows, first, panel, width| {
        for start in (0..(w.n - first).min(width)).step_by(2 * WIDTH) {
            let tile = Tile {
                a: halves.as_ptr().add(i * w.groups),
                w: panel.as_ptr().add(start),
                stride: width,
                ..Tile::new(w, rows, out, i, first + start, 2 * WIDTH)
            };
            match tile_rows {
                4 => tile_bf16::<4>(&tile),
                3 => tile_bf16::<3>(&tile),
                2 => tile_bf16::<2>(&tile),
                _ => tile_bf16::<1>(&tile),
            }
        }
    });
}

/// `ROWS` rows × 16 channels of bf16 products summed in f32.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_bf16<const ROWS: usize>(t: &Tile<[f32; 2]>) {
    let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
    let high_mask = _mm256_set1_epi32(0xffff_0000u32 as i32);
    for p in 0..t.groups {
        let wp = t.w.add(p * t.stride) as *const __m256i;
        let words = [_mm256_loadu_si256(wp), _mm256_loadu_si256(wp.add(1))];
        let high = words.map(|v| _mm256_castsi256_ps(_mm256_and_si256(v, high_mask)));
        let low = words.map(|v| _mm256_castsi256_ps(_mm256_slli_epi32::<16>(v)));
        for (r, acc) in acc.iter_mut().enumerate() {
            let [a_high, a_low] = *t.a.add(r * t.groups + p);
            let (a_high, a_low) = (_mm256_set1_ps(a_high), _mm256_set1_ps(a_low));
            for v in 0..2 {
                acc[v] = _mm256_fmadd_ps(a_high, high[v], acc[v]);
                acc[v] = _mm256_fmadd_ps(a_low, low[v], acc[v]);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (v, &value) in acc.iter().enumerate() {
            store(t, r, v, value);
        }
    }
}

/// Writes (or adds) vector `v` (channels `8v..8v+8`) of row `r`, only the tile's real channels.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store<A>(t: &Tile<A>, r: usize, v: usize, value: __m256) {
    let col = v * WIDTH;
    if col >= t.cols {
        return;
    }
    let out = t.c.add(r * t.ldc + col);
    let left = t.cols - col;
    if left >= WIDTH {
        let value = if t.accumulate {
            _mm256_add_ps(_mm256_loadu_ps(out), value)
        } else {
            value
        };
        _mm256_storeu_ps(out, value);
        return;
    }
    let mut lanes = [0.0f32; WIDTH];
    _mm256_storeu_ps(lanes.as_mut_ptr(), value);
    for (j, &lane) in lanes.iter().enumerate().take(left) {
        let o = out.add(j);
        *o = if t.accumulate { *o + lane } else { lane };
    }
}
