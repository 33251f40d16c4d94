//! The AVX-512 kernels: `vdpbf16ps` (AVX512-BF16) and `vpdpbusd` (AVX512-VNNI) micro-kernels
//! of up to 6 rows × 64 channels, over row blocks that keep a block of activations and one
//! weight panel in L1 together.

use super::{Format, Output, PackedRows, PackedWeights, Tile, LANES, PANEL_VECTORS, TILE_ROWS};
use std::arch::x86_64::*;
use std::ops::Range;

/// Widest panel, in channels.
const PANEL: usize = PANEL_VECTORS * LANES;
/// Words of activations per row block (16 KiB): the block is re-read once per weight panel,
/// so it should stay in L1 beside the panel.
const ROW_BLOCK_WORDS: usize = 4096;

/// True when this CPU runs the fast kernel for `format`.
pub(super) fn available(format: Format) -> bool {
    std::is_x86_feature_detected!("avx512f")
        && match format {
            Format::F32 => true,
            Format::Bf16 => std::is_x86_feature_detected!("avx512bf16"),
            Format::Int8 => std::is_x86_feature_detected!("avx512vnni"),
        }
}

/// `c (+)= A·Wᵀ` for rows `range` of `A` and `c`, on the AVX-512 kernel of `w`'s format.
///
/// # Safety
/// The CPU must have the format's features ([`available`]), and `out` must hold `range.end`
/// rows of `ldc ≥ n` values (as `rows` holds `range.end` rows of `rows.stride` words, or points
/// `in_place` at `range.end` rows of `k` values `lda` apart).
pub(super) unsafe fn run_rows(w: &PackedWeights, rows: &PackedRows, range: Range<usize>, out: Output) {
    match w.format {
        Format::F32 => run_f32(w, rows, range, out),
        Format::Bf16 => run_bf16(w, rows, range, out),
        Format::Int8 => run_int8(w, rows, range, out),
    }
}

/// Calls `tile_fn::<rows, vectors>` with the shape of the tile at hand.
macro_rules! by_shape {
    ($tile_fn:ident, $tile:expr, $rows:expr, $vectors:expr) => {
        match ($rows, $vectors) {
            (6, 4) => $tile_fn::<6, 4>($tile),
            (5, 4) => $tile_fn::<5, 4>($tile),
            (4, 4) => $tile_fn::<4, 4>($tile),
            (3, 4) => $tile_fn::<3, 4>($tile),
            (2, 4) => $tile_fn::<2, 4>($tile),
            (1, 4) => $tile_fn::<1, 4>($tile),
            (6, 3) => $tile_fn::<6, 3>($tile),
            (5, 3) => $tile_fn::<5, 3>($tile),
            (4, 3) => $tile_fn::<4, 3>($tile),
            (3, 3) => $tile_fn::<3, 3>($tile),
            (2, 3) => $tile_fn::<2, 3>($tile),
            (1, 3) => $tile_fn::<1, 3>($tile),
            (6, 2) => $tile_fn::<6, 2>($tile),
            (5, 2) => $tile_fn::<5, 2>($tile),
            (4, 2) => $tile_fn::<4, 2>($tile),
            (3, 2) => $tile_fn::<3, 2>($tile),
            (2, 2) => $tile_fn::<2, 2>($tile),
            (1, 2) => $tile_fn::<1, 2>($tile),
            (6, 1) => $tile_fn::<6, 1>($tile),
            (5, 1) => $tile_fn::<5, 1>($tile),
            (4, 1) => $tile_fn::<4, 1>($tile),
            (3, 1) => $tile_fn::<3, 1>($tile),
            (2, 1) => $tile_fn::<2, 1>($tile),
            (1, 1) => $tile_fn::<1, 1>($tile),
            _ => unreachable!("tiles have 1..=6 rows and 1..=4 vectors"),
        }
    };
}

#[target_feature(enable = "avx512f")]
unsafe fn run_f32(w: &PackedWeights, rows: &PackedRows, range: Range<usize>, out: Output) {
    for_each_tile(w, rows, range, out, |tile, r, v| by_shape!(tile_f32, tile, r, v));
}

#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn run_bf16(w: &PackedWeights, rows: &PackedRows, range: Range<usize>, out: Output) {
    for_each_tile(w, rows, range, out, |tile, r, v| by_shape!(tile_bf16, tile, r, v));
}

#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn run_int8(w: &PackedWeights, rows: &PackedRows, range: Range<usize>, out: Output) {
    for_each_tile(w, rows, range, out, |tile, r, v| by_shape!(tile_int8, tile, r, v));
}

/// Walks rows `range` of the product in row blocks, then weight panels, then tiles of up to 6
/// rows, and hands each tile and its shape (rows, vectors) to `kernel`.
#[inline(always)]
unsafe fn for_each_tile(
    w: &PackedWeights,
    rows: &PackedRows,
    range: Range<usize>,
    out: Output,
    mut kernel: impl FnMut(&Tile<u32>, usize, usize),
) {
    let block = (ROW_BLOCK_WORDS / w.groups.max(1)).div_ceil(TILE_ROWS).max(1) * TILE_ROWS;
    let (a, a_stride) = match rows.in_place.is_null() {
        true => (rows.words.as_ptr(), rows.stride),
        false => (rows.in_place as *const u32, rows.lda),
    };
    for block_start in range.clone().step_by(block) {
        let block_end = (block_start + block).min(range.end);
        for first in (0..w.n).step_by(PANEL) {
            let vectors = w.panel_vectors(first);
            let panel = w.panel(first).as_ptr();
            for i in (block_start..block_end).step_by(TILE_ROWS) {
                let tile = Tile {
                    a: a.add(i * a_stride),
                    a_stride,
                    w: panel,
                    stride: vectors * LANES,
                    ..Tile::new(w, rows, out, i, first, vectors * LANES)
                };
                kernel(&tile, (block_end - i).min(TILE_ROWS), vectors);
            }
        }
    }
}

/// The accumulation loop shared by both formats: for each word of `k`, load the panel's
/// vectors once, broadcast each row's word and feed both to `$dot`.
macro_rules! dot_tile {
    ($t:expr, $rows:ident, $vectors:ident, $dot:ident) => {{
        let t = $t;
        let mut acc = [[_mm512_setzero_si512(); $vectors]; $rows];
        for p in 0..t.groups {
            let wp = t.w.add(p * $vectors * LANES);
            let mut b = [_mm512_setzero_si512(); $vectors];
            for v in 0..$vectors {
                b[v] = _mm512_loadu_si512(wp.add(v * LANES) as *const _);
            }
            for r in 0..$rows {
                let a = _mm512_set1_epi32(*t.a.add(r * t.a_stride + p) as i32);
                for v in 0..$vectors {
                    acc[r][v] = $dot(acc[r][v], a, b[v]);
                }
            }
        }
        acc
    }};
}

/// `acc + a·b` on f32 lanes, rounded once (the portable path's `mul_add`).
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn dot_f32(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    _mm512_castps_si512(_mm512_fmadd_ps(
        _mm512_castsi512_ps(a),
        _mm512_castsi512_ps(b),
        _mm512_castsi512_ps(acc),
    ))
}

#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn dot_bf16(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    let sum = _mm512_dpbf16_ps(
        _mm512_castsi512_ps(acc),
        std::mem::transmute::<__m512i, __m512bh>(a),
        std::mem::transmute::<__m512i, __m512bh>(b),
    );
    _mm512_castps_si512(sum)
}

#[target_feature(enable = "avx512f,avx512vnni")]
#[inline]
unsafe fn dot_int8(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    _mm512_dpbusd_epi32(acc, a, b)
}

/// Writes (or adds) a tile's f32 sums (f32 and bf16 products need no scaling). A macro, as
/// `dot_tile!`, so that the sums go straight from their registers: as a function (which
/// `#[target_feature]` keeps from being forced inline) it took them through memory, 5% of an
/// fp32 LSTM's inference.
macro_rules! store_sums {
    ($t:expr, $acc:expr) => {{
        let (t, acc) = ($t, $acc);
        for (r, row) in acc.iter().enumerate() {
            for (v, &sums) in row.iter().enumerate() {
                store(t, r, v, _mm512_castsi512_ps(sums));
            }
        }
    }};
}

#[target_feature(enable = "avx512f")]
unsafe fn tile_f32<const ROWS: usize, const VECTORS: usize>(t: &Tile<u32>) {
    store_sums!(t, dot_tile!(t, ROWS, VECTORS, dot_f32));
}

#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile_bf16<const ROWS: usize, const VECTORS: usize>(t: &Tile<u32>) {
    store_sums!(t, dot_tile!(t, ROWS, VECTORS, dot_bf16));
}

#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn tile_int8<const ROWS: usize, const VECTORS: usize>(t: &Tile<u32>) {
    let acc = dot_tile!(t, ROWS, VECTORS, dot_int8);
    for r in 0..ROWS {
        for v in 0..VECTORS {
            store_int8(t, r, v, acc[r][v]);
        }
    }
}

/// Scales row `r`'s sums of vector `v` back to f32 and writes (or adds) them: the same
/// operations, in the same order, as `super::dequantise`.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn store_int8(t: &Tile<u32>, r: usize, v: usize, acc: __m512i) {
    let row_scale = _mm512_set1_ps(*t.row_scales.add(r));
    let zero_point = _mm512_set1_epi32(*t.zero_points.add(r));
    let sums = _mm512_loadu_si512(t.channel_sums.add(v * LANES) as *const _);
    let scales = _mm512_mul_ps(row_scale, _mm512_loadu_ps(t.channel_scales.add(v * LANES)));
    let corrected = _mm512_sub_epi32(acc, _mm512_mullo_epi32(zero_point, sums));
    store(t, r, v, _mm512_mul_ps(_mm512_cvtepi32_ps(corrected), scales));
}

/// Writes (or adds) vector `v` of row `r`, masked to the panel's real channels.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn store(t: &Tile<u32>, r: usize, v: usize, value: __m512) {
    let col = v * LANES;
    if col >= t.cols {
        return;
    }
    let mask = lane_mask(t.cols - col);
    let out = t.c.add(r * t.ldc + col);
    let value = if t.accumulate {
        _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), value)
    } else {
        value
    };
    _mm512_mask_storeu_ps(out, mask, value);
}

/// Quantises `m` rows of `a` (`lda` apart, `k` values each) into `rows`: each row's `k` bytes at
/// the start of its `groups` words, and its scale and zero point. The same operations, in the
/// same order, as `super::quantise_row`, sixteen values at a time, so every path packs the same
/// bytes.
///
/// # Safety
/// The CPU must have AVX-512F; `a` must hold `m` rows and `rows.words` `m` rows of `groups ≥
/// k / 4` words.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn quantise_rows(m: usize, a: &[f32], lda: usize, k: usize, groups: usize, rows: &mut PackedRows) {
    assert!(m == 0 || (m - 1) * lda + k <= a.len(), "quantise: A bounds");
    assert!(
        k <= groups * 4 && m * groups <= rows.words.len(),
        "quantise: row bounds"
    );
    let shift = _mm512_set1_ps(12_582_912.0);
    let (zero, top) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0));
    // Rows go in blocks of 16, each pass over the whole block: a row's scale waits on a chain
    // of reductions and three divisions, which one row at a time left the core idle (this was
    // a quarter of a recurrent step's product); the block's rows overlap their chains.
    for first in (0..m).step_by(LANES) {
        let block = first..(first + LANES).min(m);
        let row = |i: usize| a.as_ptr().add(i * lda);
        // Lanes past `k` load as zeros, which the extremes (0 included) already allow for.
        let load = |i: usize, p: usize| _mm512_maskz_loadu_ps(lane_mask(k - p), row(i).add(p));
        let mut extremes = [(0.0f32, 0.0f32); LANES];
        for (i, extreme) in block.clone().zip(&mut extremes) {
            let (mut lo, mut hi) = (zero, zero);
            for p in (0..k).step_by(LANES) {
                let v = load(i, p);
                lo = _mm512_min_ps(v, lo);
                hi = _mm512_max_ps(v, hi);
            }
            *extreme = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
        }
        let mut levels = [(0.0f32, 0.0f32); LANES];
        for (&(lo, hi), level) in extremes.iter().zip(&mut levels).take(block.len()) {
            let (scale, zero_point, inverse) = super::row_scale(lo, hi);
            rows.scales.push(scale);
            rows.zero_points.push(zero_point as i32);
            *level = (inverse, zero_point);
        }
        for (i, &(inverse, zero_point)) in block.zip(&levels) {
            let (inverse, zero_point) = (_mm512_set1_ps(inverse), _mm512_set1_ps(zero_point));
            let out = (rows.words.as_mut_ptr() as *mut i8).add(i * groups * 4);
            for p in (0..k).step_by(LANES) {
                let rounded = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(load(i, p), inverse), shift), shift);
                let level = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(rounded, zero_point), zero), top);
                _mm512_mask_cvtepi32_storeu_epi8(out.add(p), lane_mask(k - p), _mm512_cvtps_epi32(level));
            }
        }
    }
}

/// The mask of the first `left` of 16 lanes (all of them from 16 on).
#[inline(always)]
fn lane_mask(left: usize) -> __mmask16 {
    if left >= LANES {
        0xffff
    } else {
        (1 << left) - 1
    }
}
