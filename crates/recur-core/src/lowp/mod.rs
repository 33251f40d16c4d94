//! Reduced-precision products for inference: `C[m×n] (+)= A[m×k]·Wᵀ` with `A` f32 activations
//! and `W` (`[n, k]`, rows are output channels, PyTorch's layout) packed once at load.
//!
//! - **bf16**: `W` rounded to bfloat16 (round to nearest even), `A` rounded the same way on
//!   every call, products summed in f32 (AVX512-BF16 `vdpbf16ps`). A bf16 product is exact in
//!   f32, so the only losses are the two roundings of the operands and the f32 sums.
//! - **int8**: `W` quantised per output channel (symmetric, 7 bits: −63..=63, one scale per
//!   row, so that the AVX2 kernel's pair sums fit `i16`), `A` quantised per row on every call
//!   (asymmetric `u8` with a zero point: the row's own range, 0 included, spread over all 256
//!   levels — activations such as ReLU outputs or one-hot inputs are one-sided, where a
//!   symmetric code would waste half the levels, and the zero point costs one multiply per
//!   output through precomputed weight sums), products summed exactly in i32 (AVX512-VNNI
//!   `vpdpbusd`), then scaled back to f32.
//!
//! - **f32** (no reduction): the weights as they are, in the same panels, for fp32 inference of
//!   recurrent layers on AVX-512 (`vfmadd` per term, in the order of `k`), where the general
//!   GEMM re-packed the weights on every step's product.
//!
//! All formats share one layout: `k` is cut into groups of 1 (f32), 2 (bf16) or 4 (int8)
//! values that fill one 32-bit word, the unit the dot-product instructions broadcast and
//! multiply. The packed weights are panels of up to 64 output channels, each group's 64 words
//! contiguous, so a micro-kernel of 6 rows × 64 channels streams one panel with plain loads.
//!
//! The kernels are chosen at run time: for int8, Intel's AMX tile unit (`tdpbusd`, 256 times
//! the products of one `vpdpbusd`) where the CPU has it and the product has 16 rows or more
//! (for bf16 too, `tdpbf16ps`, but only where the caller allows sums in another order:
//! [`KernelPath::AnyOrder`], training's products);
//! AVX-512 (`vdpbf16ps`, `vpdpbusd`) where the CPU has the format's instructions, else AVX2
//! (bf16 widened to f32, about the speed of f32; int8 summed in pairs, twice the rate of f32
//! products), else the portable path. Every path computes the
//! same numbers (bf16: the same rounded operands summed in the same order; int8: the same
//! integers) on any CPU. [`KernelPath`] forces one so tests can compare them.

use crate::aligned::Aligned;

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
mod portable;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

/// Output channels per 512-bit vector of f32 or i32 sums.
const LANES: usize = 16;
/// Vectors of output channels per packed panel (64 channels).
const PANEL_VECTORS: usize = 4;
/// Rows of `A` per micro-kernel call: 6 rows × 4 vectors = 24 accumulators, which with the
/// 4 weight vectors and the broadcast fill the 32 vector registers without spilling.
const TILE_ROWS: usize = 6;

/// The number format of packed weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// f32 operands and sums: no reduced precision, only the packed layout, so that fp32
    /// inference of recurrent layers runs the same panel kernels without the general GEMM's
    /// re-packing of the weights on every call (AVX-512 only; elsewhere fp32 keeps its GEMM).
    F32,
    /// bfloat16 operands, f32 sums.
    Bf16,
    /// Per-channel symmetric i8 weights, per-row asymmetric u8 activations, i32 sums.
    Int8,
}

impl Format {
    /// Values of `k` per 32-bit word.
    fn per_word(self) -> usize {
        match self {
            Format::F32 => 1,
            Format::Bf16 => 2,
            Format::Int8 => 4,
        }
    }

    /// The kernel [`KernelPath::Detected`] runs this format on here: `amx-int8` (products of
    /// 16 rows or more), `avx512-bf16`, `avx512-vnni`, `avx2` or `portable` (for reports such
    /// as `recur bench`).
    pub fn kernel_name(self) -> &'static str {
        match self {
            Format::Int8 if KernelPath::amx_available(Format::Int8) => "amx-int8",
            _ if self.fast_path_available() => match self {
                Format::F32 => "avx512-f32",
                Format::Bf16 => "avx512-bf16",
                Format::Int8 => "avx512-vnni",
            },
            Format::Bf16 | Format::Int8 if KernelPath::avx2_available() => "avx2",
            _ => "portable",
        }
    }

    /// True when this CPU has the AVX-512 instructions of this format's fastest kernel.
    pub fn fast_path_available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            x86::available(self)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// Which implementation a product runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    /// The fastest kernel this CPU has: AMX (int8, whole 16-row tiles), else AVX-512, else
    /// AVX2, else the portable one.
    Detected,
    /// The AVX-512 kernel where the CPU has the format's instructions (never AMX), else as
    /// [`KernelPath::Avx2`].
    Avx512,
    /// The AVX2 kernel where the CPU has AVX2 and FMA, else the portable one.
    Avx2,
    /// The portable kernel (same results), whatever the CPU.
    Portable,
    /// As [`KernelPath::Detected`], and bf16 products too on the AMX tile unit where the CPU
    /// has it: 4–8× the AVX-512 kernel's rate there, but its f32 sums are added in the tile
    /// unit's order, so they may differ in the last bits from every other path's, and a row's
    /// result from whether it fell in a whole 16-row block. For training's products, where no
    /// result is compared bit for bit; inference keeps [`KernelPath::Detected`].
    AnyOrder,
}

impl KernelPath {
    /// True when this CPU has AMX with `format`'s products and this process may use its tiles
    /// (int8: the path of [`KernelPath::Detected`]; bf16: of [`KernelPath::AnyOrder`]).
    pub fn amx_available(format: Format) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            amx::available(format)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = format;
            false
        }
    }

    /// True when this CPU has AVX2 and FMA, the instructions of [`KernelPath::Avx2`].
    pub fn avx2_available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            avx2::available()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// One micro-kernel call of a SIMD kernel: rows of activations (`A`: packed words, or their
/// widened form) against some channels of one weight panel.
#[cfg(target_arch = "x86_64")]
struct Tile<A> {
    /// The first row's first group; rows lie `a_stride` words apart.
    a: *const A,
    a_stride: usize,
    /// Words per row (and per channel in the panel).
    groups: usize,
    /// The panel's first word of the tile's channels; successive groups lie `stride` words
    /// apart (the panel's width).
    w: *const u32,
    stride: usize,
    /// The output of the first row's first channel.
    c: *mut f32,
    ldc: usize,
    /// Real channels in the tile (the panel is padded to whole 16-channel vectors, so reading
    /// up to a whole vector is in bounds).
    cols: usize,
    accumulate: bool,
    /// int8: the rows' scales and zero points, and the tile's channel scales and weight sums
    /// (padded to whole vectors). Empty for bf16: formed, never read.
    row_scales: *const f32,
    zero_points: *const i32,
    channel_scales: *const f32,
    channel_sums: *const i32,
}

/// Where a product's results go: `c`, rows `ldc` apart, added to (`accumulate`) or overwritten.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Output {
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
}

#[cfg(target_arch = "x86_64")]
impl<A> Tile<A> {
    /// The tile whose first output is row `row`, channel `channel` of `out`, at most `width`
    /// channels wide, with that row's and channel's int8 scales and sums (bf16 has none: those
    /// pointers are only formed, never read). Its operands (`a`, `w`, `stride`) are null: a
    /// kernel that reads them sets them.
    ///
    /// # Safety
    /// `row` and `channel` must lie within `out` and `w`.
    unsafe fn new(w: &PackedWeights, rows: &PackedRows, out: Output, row: usize, channel: usize, width: usize) -> Self {
        Tile {
            a: std::ptr::null(),
            a_stride: w.groups,
            groups: w.groups,
            w: std::ptr::null(),
            stride: 0,
            c: out.c.add(row * out.ldc + channel),
            ldc: out.ldc,
            cols: (w.n - channel).min(width),
            accumulate: out.accumulate,
            row_scales: rows.scales.as_ptr().wrapping_add(row),
            zero_points: rows.zero_points.as_ptr().wrapping_add(row),
            channel_scales: w.scales.as_ptr().add(channel),
            channel_sums: w.sums.as_ptr().add(channel),
        }
    }
}

/// Words of `k` per AMX tile row (64 bytes). int8 panels are padded with zero weights to whole
/// multiples, and packed activations end with this many spare words, since the tile kernel
/// reads a row's last partial tile as a whole one (the words past the row meet zero weights).
const TILE_WORDS: usize = 16;

/// A weight matrix `[n, k]` packed for [`PackedWeights::matmul`].
#[derive(Clone, Debug)]
pub struct PackedWeights {
    format: Format,
    n: usize,
    k: usize,
    /// Words per row of `k` (k rounded up to whole words).
    groups: usize,
    /// Words per channel in the panels: `groups`, rounded up for int8 and bf16 to whole AMX
    /// tiles of 16 words (zeros past `groups`), so that the tile kernel never needs a partial one.
    height: usize,
    /// Panels of up to 64 channels, on a cache line so that no vector load straddles two;
    /// see [`PackedWeights::panel`].
    words: Aligned<u32>,
    /// int8: each channel's scale (zero past `n`, padded to whole vectors).
    scales: Vec<f32>,
    /// int8: each channel's sum of quantised weights, for the zero-point correction.
    sums: Vec<i32>,
}

/// One call's activations in the weights' word format: `[m, groups]` words (then
/// [`TILE_WORDS`] spare ones) and (int8) each row's scale and zero point; or, for f32 on the
/// AVX-512 kernel, the caller's rows where they lie (`in_place`, `lda` apart; `words` empty).
pub(crate) struct PackedRows {
    pub(crate) words: Vec<u32>,
    /// Words from one row's start to the next's: `groups`, or for bf16 on AMX the weights'
    /// `height` (whole tiles, zeros past `groups`).
    pub(crate) stride: usize,
    pub(crate) scales: Vec<f32>,
    pub(crate) zero_points: Vec<i32>,
    /// f32 rows the AVX-512 kernel reads where they lie (the caller's `a`, rows `lda` apart)
    /// rather than from a copy in `words`, whose bits they already are: null when packed.
    #[cfg(target_arch = "x86_64")]
    pub(crate) in_place: *const f32,
    #[cfg(target_arch = "x86_64")]
    pub(crate) lda: usize,
}

impl PackedRows {
    /// Rows `stride` words apart to be packed into `words` (no int8 scales yet).
    pub(crate) fn new(words: Vec<u32>, stride: usize) -> Self {
        PackedRows {
            words,
            stride,
            scales: Vec::new(),
            zero_points: Vec::new(),
            #[cfg(target_arch = "x86_64")]
            in_place: std::ptr::null(),
            #[cfg(target_arch = "x86_64")]
            lda: 0,
        }
    }
}

impl PackedWeights {
    /// Packs `w` (`[n, k]` row-major) in `format`. Panics when `w` is not `n·k` values (a
    /// caller's bug: layers pass their own tensors).
    pub fn pack(format: Format, w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "packed weights: {n}×{k} matrix expected");
        let mut packed = Self::zeroed(format, n, k);
        let groups = packed.groups;
        for (j, row) in w.chunks_exact(k.max(1)).enumerate().take(n) {
            let mut words = vec![0u32; groups];
            match format {
                Format::F32 => f32_words(row, &mut words),
                Format::Bf16 => bf16_words(row, &mut words),
                Format::Int8 => {
                    let (q, scale) = quantise_channel(row);
                    packed.scales[j] = scale;
                    packed.sums[j] = q.iter().map(|&v| v as i32).sum();
                    let mut bytes: Vec<u8> = q.iter().map(|&v| v as u8).collect();
                    bytes.resize(groups * 4, 0);
                    byte_words(&bytes, &mut words);
                }
            }
            let (start, stride) = packed.channel_slot(j);
            for (p, word) in words.into_iter().enumerate() {
                packed.words[start + p * stride] = word;
            }
        }
        packed
    }

    /// Zero weights `[n, k]` in `format`'s layout, to be filled.
    fn zeroed(format: Format, n: usize, k: usize) -> Self {
        let groups = k.div_ceil(format.per_word());
        let height = match format {
            Format::F32 => groups,
            Format::Bf16 | Format::Int8 => groups.div_ceil(TILE_WORDS) * TILE_WORDS,
        };
        let padded_n = n.div_ceil(LANES) * LANES;
        PackedWeights {
            format,
            n,
            k,
            groups,
            height,
            words: Aligned::zeroed(padded_n * height),
            scales: vec![0.0; padded_n],
            sums: vec![0; padded_n],
        }
    }

    /// [`PackedWeights::pack`] of `xᵀ`, for `x` `[k, n]` row-major (channel `j` is column `j`),
    /// in f32 or bf16: each panel is filled from one or two rows of `x` at a time, with no
    /// transposed copy (training packs a pass's gate gradients this way, every step of every
    /// sequence). Panics for int8, whose per-channel scales need each column whole first.
    pub fn pack_columns(format: Format, x: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(x.len(), n * k, "packed weights: {k}×{n} matrix expected");
        assert!(format != Format::Int8, "pack_columns: f32 or bf16 only");
        let mut packed = Self::zeroed(format, n, k);
        let (groups, height) = (packed.groups, packed.height);
        for first in (0..n).step_by(PANEL_VECTORS * LANES) {
            let width = (n - first).min(PANEL_VECTORS * LANES);
            let stride = packed.panel_vectors(first) * LANES;
            let panel = &mut packed.words[first * height..];
            let row = |r: usize| (r < k).then(|| &x[r * n + first..r * n + first + width]);
            crate::math::dispatch(
                #[inline(always)]
                || {
                    for (p, words) in panel.chunks_mut(stride).take(groups).enumerate() {
                        let words = &mut words[..width];
                        match (format, row(2 * p), row(2 * p + 1)) {
                            (Format::F32, _, _) => f32_words(&x[p * n + first..p * n + first + width], words),
                            (_, Some(low), Some(high)) => {
                                for ((word, &l), &h) in words.iter_mut().zip(low).zip(high) {
                                    *word = bf16_bits(l) as u32 | (bf16_bits(h) as u32) << 16;
                                }
                            }
                            (_, Some(low), None) => {
                                words.iter_mut().zip(low).for_each(|(w, &l)| *w = bf16_bits(l) as u32)
                            }
                            (_, None, _) => unreachable!("a group starts within k"),
                        }
                    }
                },
            );
        }
        packed
    }

    /// The format the weights are packed in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Output channels (`n`).
    pub fn outputs(&self) -> usize {
        self.n
    }

    /// Values per input row (`k`).
    pub fn inputs(&self) -> usize {
        self.k
    }

    /// Where channel `j`'s first word lies and the distance between its successive words.
    fn channel_slot(&self, j: usize) -> (usize, usize) {
        let first = j / (PANEL_VECTORS * LANES) * PANEL_VECTORS * LANES;
        let stride = self.panel_vectors(first) * LANES;
        (first * self.height + (j - first), stride)
    }

    /// Vectors in the panel starting at channel `first` (4 except maybe the last).
    fn panel_vectors(&self, first: usize) -> usize {
        (self.n - first).div_ceil(LANES).min(PANEL_VECTORS)
    }

    /// The panel starting at channel `first`: `[height][vectors·16]` words, of which the
    /// first `groups` rows are the weights.
    fn panel(&self, first: usize) -> &[u32] {
        let len = self.height * self.panel_vectors(first) * LANES;
        &self.words[first * self.height..first * self.height + len]
    }

    /// `c = A·Wᵀ` (or `c += A·Wᵀ` when `accumulate`), `A` `[m, lda]` and `c` `[m, ldc]`
    /// row-major, on the fastest kernel this CPU has.
    pub fn matmul(&self, m: usize, a: &[f32], lda: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
        self.matmul_on(KernelPath::Detected, m, a, lda, c, ldc, accumulate);
    }

    /// [`PackedWeights::matmul`] on a chosen kernel path.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_on(
        &self,
        path: KernelPath,
        m: usize,
        a: &[f32],
        lda: usize,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        if m == 0 || self.n == 0 {
            return;
        }
        // These checks make the kernels' unchecked reads and writes sound (checked arithmetic:
        // a wrapped bound would let the in-place f32 rows be read out of bounds).
        let fits = |width: usize, ld: usize, len: usize| {
            width <= ld
                && (m - 1)
                    .checked_mul(ld)
                    .and_then(|r| r.checked_add(width))
                    .is_some_and(|end| end <= len)
        };
        assert!(fits(self.k, lda, a.len()), "packed matmul: A bounds");
        assert!(fits(self.n, ldc, c.len()), "packed matmul: C bounds");
        #[cfg(target_arch = "x86_64")]
        if self.format == Format::F32 && self.runs_avx512(path) {
            let rows = PackedRows {
                in_place: a.as_ptr(),
                lda,
                ..PackedRows::new(Vec::new(), 0)
            };
            self.run(path, &rows, m, c, ldc, accumulate);
            return;
        }
        let rows = self.pack_rows(m, a, lda, self.row_stride(path));
        self.run(path, &rows, m, c, ldc, accumulate);
        crate::scratch::give_back(rows.words);
    }

    /// Whether a product on `path` runs the AVX-512 kernel of the weights' format (where AMX
    /// does not take it first).
    #[cfg(target_arch = "x86_64")]
    fn runs_avx512(&self, path: KernelPath) -> bool {
        matches!(path, KernelPath::Detected | KernelPath::Avx512 | KernelPath::AnyOrder)
            && self.format.fast_path_available()
    }

    /// Whether a product on `path` runs on the AMX tile unit (rows in whole 16-row blocks).
    fn runs_amx(&self, path: KernelPath) -> bool {
        match (path, self.format) {
            (KernelPath::Detected | KernelPath::AnyOrder, Format::Int8) => KernelPath::amx_available(Format::Int8),
            (KernelPath::AnyOrder, Format::Bf16) => KernelPath::amx_available(Format::Bf16),
            _ => false,
        }
    }

    /// Words between packed rows on `path`: bf16 on AMX pads each row to whole tiles (a float
    /// past the row could be infinite, and meet a zero weight as NaN); otherwise `groups`.
    fn row_stride(&self, path: KernelPath) -> usize {
        match self.format == Format::Bf16 && self.runs_amx(path) {
            true => self.height,
            false => self.groups,
        }
    }

    /// `c (+)= A·Wᵀ` of packed rows on `path`'s kernel (bounds checked by the caller).
    fn run(&self, path: KernelPath, rows: &PackedRows, m: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
        #[cfg(target_arch = "x86_64")]
        {
            let out = Output {
                c: c.as_mut_ptr(),
                ldc,
                accumulate,
            };
            if self.runs_amx(path) {
                // SAFETY: the CPU has AMX for the weights' format and the OS granted its tiles
                // (checked just above), the rows were packed with the tile unit's stride, and the
                // caller asserted the bounds of a and c.
                unsafe { amx::run(self, rows, m, out) };
                return;
            }
            if self.runs_avx512(path) {
                // SAFETY: the CPU has the kernel's features (checked just above) and the caller
                // asserted the bounds of a and c.
                unsafe { x86::run_rows(self, rows, 0..m, out) };
                return;
            }
            // f32 has no AVX2 kernel: fp32 packs its weights only where AVX-512 runs them.
            if path != KernelPath::Portable && self.format != Format::F32 && avx2::available() {
                // SAFETY: as above, for AVX2 and FMA.
                unsafe { avx2::run(self, rows, m, out) };
                return;
            }
        }
        let _ = path;
        portable::run(self, rows, m, c, ldc, accumulate);
    }

    /// Converts (bf16) or quantises (int8) the `m` rows of `a` into words, rows `stride` words
    /// apart, in a buffer kept on this thread between calls (hand it back with
    /// [`crate::scratch::give_back`]). int8 rows write only their `k` bytes: the bytes after them
    /// in the row's last word (and the slack) may hold anything, since they only ever meet zero
    /// weights. bf16 words past a row's `groups` (up to `stride`) are zero.
    fn pack_rows(&self, m: usize, a: &[f32], lda: usize, stride: usize) -> PackedRows {
        let groups = self.groups;
        let mut rows = PackedRows::new(crate::scratch::take(m * stride + TILE_WORDS), stride);
        if self.format == Format::Int8 {
            rows.scales.reserve(m);
            rows.zero_points.reserve(m);
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F, and `words` holds `m` rows of `groups` words, each
                // with room for `k` bytes.
                unsafe { x86::quantise_rows(m, a, lda, self.k, groups, &mut rows) };
                return rows;
            }
        }
        crate::math::dispatch(
            #[inline(always)]
            || {
                let mut bytes = vec![0u8; groups * 4];
                for (i, words) in rows.words[..m * stride].chunks_exact_mut(stride.max(1)).enumerate() {
                    let row = &a[i * lda..i * lda + self.k];
                    let (words, pad) = words.split_at_mut(groups);
                    pad.fill(0);
                    match self.format {
                        Format::F32 => f32_words(row, words),
                        Format::Bf16 => bf16_words(row, words),
                        Format::Int8 => {
                            let (scale, zero_point) = quantise_row(row, &mut bytes[..self.k]);
                            rows.scales.push(scale);
                            rows.zero_points.push(zero_point);
                            byte_words(&bytes, words);
                        }
                    }
                }
            },
        );
        rows
    }
}

/// `x` rounded to bfloat16 (nearest, ties to even), as its 16 bits. NaN stays NaN (quieted).
/// Both answers are worked out and one selected, with no branch, so that loops over rows of
/// values compile to vector code (a branch on NaN kept them scalar, 6% of bf16 training).
#[inline(always)]
pub fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16;
    let quiet = (bits >> 16) | 0x40;
    let nan = bits & 0x7fff_ffff > 0x7f80_0000;
    (if nan { quiet } else { rounded }) as u16
}

/// The f32 value of bfloat16 bits.
#[inline(always)]
pub fn bf16_value(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

/// A row as f32 words into `out`: the bits as they are.
#[inline(always)]
fn f32_words(row: &[f32], out: &mut [u32]) {
    out.iter_mut().zip(row).for_each(|(word, v)| *word = v.to_bits());
}

/// A row as bf16 pairs into `out`, element `2p` in the low half of word `p` (the order
/// `vdpbf16ps` reads); an odd length is padded with zero.
#[inline(always)]
fn bf16_words(row: &[f32], out: &mut [u32]) {
    for (word, pair) in out.iter_mut().zip(row.chunks_exact(2)) {
        *word = bf16_bits(pair[0]) as u32 | (bf16_bits(pair[1]) as u32) << 16;
    }
    if row.len() % 2 == 1 {
        out[row.len() / 2] = bf16_bits(row[row.len() - 1]) as u32;
    }
}

/// Bytes (a multiple of 4 of them) as little-endian words into `out`.
#[inline(always)]
fn byte_words(bytes: &[u8], out: &mut [u32]) {
    for (word, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// The largest quantised weight. Seven bits, not eight: AVX2 has no exact four-product
/// instruction, and its `vpmaddubsw` sums two `u8·i8` products into an `i16` with saturation;
/// with weights within ±63 a pair is at most 2·255·63 = 32,130, so it never saturates and every
/// kernel sums the same integers. (ONNX Runtime's `reduce_range` makes the same trade.)
pub(crate) const WEIGHT_LEVELS: f32 = 63.0;

/// One output channel quantised symmetrically: `q = round(w / scale)` in
/// −[`WEIGHT_LEVELS`]..=[`WEIGHT_LEVELS`] with `scale = max|w| / WEIGHT_LEVELS` (1 for an
/// all-zero row, which then stays zero).
fn quantise_channel(row: &[f32]) -> (Vec<i8>, f32) {
    let largest = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if largest > 0.0 { largest / WEIGHT_LEVELS } else { 1.0 };
    let q = row
        .iter()
        .map(|&v| round_small(v / scale).clamp(-WEIGHT_LEVELS, WEIGHT_LEVELS) as i8)
        .collect();
    (q, scale)
}

/// One row of activations quantised asymmetrically into `out`: `q = round(a / scale) + zero`
/// in 0..=255, the range `[min(a, 0), max(a, 0)]` spread over the 256 levels (so 0 is exact).
/// Returns the scale and zero point (1 and 0 for an all-zero row).
#[inline(always)]
fn quantise_row(row: &[f32], out: &mut [u8]) -> (f32, i32) {
    // Per-lane extremes first (vertical min/max vectorise; a running scalar one does not).
    // Whole arrays built at once compile to plain vector min/max: the same selects written
    // lane by lane into the arrays compiled to byte shuffles and blends, 6× slower (measured
    // on an AVX2 Zen 3, where they took a tenth of an int8 model's time).
    let (mut lo, mut hi) = ([0.0f32; LANES], [0.0f32; LANES]);
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        lo = std::array::from_fn(|l| if chunk[l] < lo[l] { chunk[l] } else { lo[l] });
        hi = std::array::from_fn(|l| if chunk[l] > hi[l] { chunk[l] } else { hi[l] });
    }
    for (l, &v) in tail.iter().enumerate() {
        lo[l] = lo[l].min(v);
        hi[l] = hi[l].max(v);
    }
    let lo = lo.iter().fold(0.0f32, |m, &v| m.min(v));
    let hi = hi.iter().fold(0.0f32, |m, &v| m.max(v));
    let (scale, zero_point, inverse) = row_scale(lo, hi);
    for (q, &v) in out.iter_mut().zip(row) {
        // max then min, not clamp: they send NaN to 0 as the vector instructions do.
        #[allow(clippy::manual_clamp)]
        let level = (round_small(v * inverse) + zero_point).max(0.0).min(255.0);
        // A whole number in 0..=255 plus 2²³ holds it in its low significand bits: reading
        // them vectorises, where `as u8` (a saturating conversion) went one value at a time.
        *q = (level + 8_388_608.0).to_bits() as u8;
    }
    (scale, zero_point as i32)
}

/// A row's quantisation from its extremes (each with 0 included): the step, the zero point (a
/// whole number in 0..=255, as f32) and the step's inverse.
#[inline(always)]
fn row_scale(lo: f32, hi: f32) -> (f32, f32, f32) {
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zero_point = round_small(-lo / scale).clamp(0.0, 255.0);
    (scale, zero_point, 1.0 / scale)
}

/// `x` rounded to the nearest integer, ties to even, for |x| < 2²² (quantised values are
/// within ±255): adding 1.5·2²³ leaves no fraction bits, so the addition itself rounds to
/// nearest-even, and subtracting brings the integer back. `round_ties_even` computes the same
/// but became a library call per value here (measured 30× slower than the conversion to bf16).
#[inline(always)]
fn round_small(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    (x + SHIFT) - SHIFT
}

/// An int8 sum scaled back to f32: `(Σ q_a·q_w − zero·Σ q_w) · scale_a · scale_w`. Both
/// kernels compute exactly this, in this order, so they agree to the bit.
#[inline(always)]
fn dequantise(sum: i32, zero_point: i32, weight_sum: i32, scale: f32) -> f32 {
    (sum - zero_point * weight_sum) as f32 * scale
}
