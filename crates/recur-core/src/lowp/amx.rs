//! The AMX kernels (Intel's tile matrix unit, Sapphire Rapids and later). One `tdpbusd`
//! multiplies a tile of 16 rows × 64 `u8` activations by 64 × 16 `i8` weights into 16 × 16
//! `i32` sums, 16,384 products, where one AVX-512 `vpdpbusd` makes 64; one `tdpbf16ps` makes
//! 8,192 bf16 products into f32 sums, where one `vdpbf16ps` makes 32.
//!
//! - **int8** sums are exact, as `vpdpbusd`'s are, so this path gives the same integers, and
//!   after the shared AVX-512 dequantisation the same bits, as every other int8 path.
//! - **bf16** sums are f32, added in the tile unit's own order, so they may differ in the last
//!   bits from the other bf16 paths': this path runs only where a caller asks for it
//!   ([`super::KernelPath::AnyOrder`], training's products), never for inference, whose
//!   results are compared bit for bit across batches and machines.
//!
//! The packed weights need no other layout: a panel is `[height][vectors·16]` words, so 16
//! groups of one 16-channel vector are a weight tile of 16 rows (one group each) of 64 bytes,
//! read with the panel's width as the row stride; 16 rows of packed activations, 16 groups
//! wide, are an activation tile the same way. int8 and bf16 panels are padded with zero weights
//! to whole tiles of `k`. An int8 row's last tile may run past the row (into the next row, or
//! the zeros after the last): those bytes meet zero weights and add nothing. A bf16 row is
//! padded with zeros to whole tiles instead, since a float past the row could be infinite, and
//! infinity times a zero weight is NaN. Only whole blocks of 16 rows run here; a call's last
//! rows (and calls of fewer than 16) go to the AVX-512 kernel, where the tile unit would
//! multiply mostly padding.
//!
//! The tile registers hold 8 KiB of state that Linux saves only for a process that asks for
//! it (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), so the kernel counts as available only once that
//! request has been granted. Tiles are configured at the start of each call and released at
//! its end, so no thread holds tile state between products.

use super::{x86, Format, Output, PackedRows, PackedWeights, Tile, LANES, PANEL_VECTORS, TILE_WORDS};
use std::arch::asm;
use std::arch::x86_64::{__m512i, _mm512_castsi512_ps, _mm512_load_si512};
use std::sync::OnceLock;

/// Rows of activations (and of sums) per tile.
const TILE_ROWS: usize = 16;

/// True when this CPU has AMX with `format`'s products (int8 or bf16), the AVX-512 kernel of
/// that format (for the rows left over), and the OS has granted this process the tile state.
/// Worked out once per format: CPUID is slow (in a virtual machine it exits to the host).
pub(super) fn available(format: Format) -> bool {
    static INT8: OnceLock<bool> = OnceLock::new();
    static BF16: OnceLock<bool> = OnceLock::new();
    // CPUID leaf 7, EDX: AMX-BF16 is bit 22, AMX-INT8 bit 25.
    let (answer, bit) = match format {
        Format::Int8 => (&INT8, 25),
        Format::Bf16 => (&BF16, 22),
        Format::F32 => return false,
    };
    *answer.get_or_init(|| cpu_has_amx(bit) && x86::available(format) && tile_state_granted())
}

/// Whether Linux granted this process the tile state (asked once).
fn tile_state_granted() -> bool {
    static GRANTED: OnceLock<bool> = OnceLock::new();
    *GRANTED.get_or_init(request_tile_state)
}

/// CPUID leaf 7: AMX-TILE (EDX bit 24) and the products of EDX bit `bit`; XCR0 bits 17 and 18:
/// the OS saves tile configuration and data on a context switch.
fn cpu_has_amx(bit: u32) -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID exists on every x86-64 CPU; XGETBV is only run where CPUID says OSXSAVE.
    unsafe {
        let edx = __cpuid_count(7, 0).edx;
        let amx = edx >> 24 & 1 == 1 && edx >> bit & 1 == 1;
        if !amx || __cpuid(1).ecx & (1 << 27) == 0 {
            return false;
        }
        let (low, _high): (u32, u32);
        asm!("xgetbv", in("ecx") 0u32, out("eax") low, out("edx") _high, options(nomem, nostack));
        low >> 17 & 3 == 3
    }
}

/// Asks Linux for permission to use the tile data state (once per process; it then covers
/// every thread). Other systems: not attempted, so AMX is unused there.
fn request_tile_state() -> bool {
    #[cfg(target_os = "linux")]
    {
        const SYS_ARCH_PRCTL: isize = 158;
        const ARCH_REQ_XCOMP_PERM: usize = 0x1023;
        const XFEATURE_XTILEDATA: usize = 18;
        let result: isize;
        // SAFETY: the arch_prctl system call reads only its two integer arguments.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => result,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        result == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The 64-byte operand of `ldtilecfg` (palette 1: eight tiles of up to 16 rows × 64 bytes).
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    /// Bytes per row of each tile.
    row_bytes: [u16; 16],
    rows: [u8; 16],
}

impl TileConfig {
    /// Every tile 16 rows of 64 bytes: tiles 0–3 hold the sums of two 16-row blocks of
    /// activations against two 16-channel vectors of weights (`2·block + vector`), tiles 4–5
    /// the two blocks of activations and tiles 6–7 the two vectors of weights, so every tile
    /// loaded feeds two products and no load waits for a product to free its tile.
    fn new() -> Self {
        let mut config = TileConfig {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            row_bytes: [0; 16],
            rows: [0; 16],
        };
        for tile in 0..8 {
            config.rows[tile] = TILE_ROWS as u8;
            config.row_bytes[tile] = (TILE_WORDS * 4) as u16;
        }
        config
    }
}

/// The sums of up to two 16-row blocks against up to two vectors, as `tilestored` leaves them:
/// `[block][vector][row][channel]`.
#[repr(C, align(64))]
struct Sums([[[[i32; LANES]; TILE_ROWS]; 2]; 2]);

/// `c (+)= A·Wᵀ` for int8 or bf16 weights, rows `0..m`: whole 16-row blocks on the tile unit,
/// the rest on the AVX-512 kernel.
///
/// # Safety
/// [`available`] must be true for `w`'s format, and `out` must hold `m` rows of `ldc ≥ n`
/// values (as `rows` holds `m` rows of `rows.stride` words, then [`TILE_WORDS`] more; for bf16
/// the stride is `w.height`, with zeros past `w.groups`).
pub(super) unsafe fn run(w: &PackedWeights, rows: &PackedRows, m: usize, out: Output) {
    let whole = m / TILE_ROWS * TILE_ROWS;
    if whole > 0 {
        match w.format {
            Format::Bf16 => tiles::<true>(w, rows, whole, out),
            _ => tiles::<false>(w, rows, whole, out),
        }
    }
    if whole < m {
        x86::run_rows(w, rows, whole..m, out);
    }
}

/// Rows `0..m` (`m` a multiple of 16) in pairs of 16-row blocks against every panel's pairs of
/// 16-channel vectors (a last odd block or vector alone); bf16 products when `BF16`, else int8.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn tiles<const BF16: bool>(w: &PackedWeights, rows: &PackedRows, m: usize, out: Output) {
    let config = TileConfig::new();
    asm!("ldtilecfg [{}]", in(reg) &config, options(nostack, readonly));
    let mut sums = Sums([[[[0; LANES]; TILE_ROWS]; 2]; 2]);
    for i in (0..m).step_by(2 * TILE_ROWS) {
        let blocks = if m - i > TILE_ROWS { 2 } else { 1 };
        let a = Operand {
            at: rows.words.as_ptr().add(i * rows.stride) as *const u8,
            stride: rows.stride * 4,
        };
        for first in (0..w.n).step_by(PANEL_VECTORS * LANES) {
            let panel_vectors = w.panel_vectors(first);
            for v in (0..panel_vectors).step_by(2) {
                let vectors = (panel_vectors - v).min(2);
                let b = Operand {
                    at: (w.panel(first).as_ptr() as *const u8).add(v * LANES * 4),
                    stride: panel_vectors * LANES * 4,
                };
                match (blocks, vectors) {
                    (2, 2) => multiply::<2, 2, BF16>(a, b, w.height, &mut sums),
                    (2, _) => multiply::<2, 1, BF16>(a, b, w.height, &mut sums),
                    (_, 2) => multiply::<1, 2, BF16>(a, b, w.height, &mut sums),
                    _ => multiply::<1, 1, BF16>(a, b, w.height, &mut sums),
                }
                let channel = first + v * LANES;
                for (block, block_sums) in sums.0.iter().enumerate().take(blocks) {
                    // The stores read only the output (and int8's scale) fields.
                    let tile = Tile::<u32>::new(w, rows, out, i + block * TILE_ROWS, channel, 2 * LANES);
                    for r in 0..TILE_ROWS {
                        for (vector, vector_sums) in block_sums.iter().enumerate().take(vectors) {
                            let acc: __m512i = _mm512_load_si512(vector_sums[r].as_ptr() as *const _);
                            match BF16 {
                                true => x86::store(&tile, r, vector, _mm512_castsi512_ps(acc)),
                                false => x86::store_int8(&tile, r, vector, acc),
                            }
                        }
                    }
                }
            }
        }
    }
    asm!("tilerelease", options(nostack, nomem));
}

/// A matrix operand in memory: its first byte and the distance between its rows.
#[derive(Clone, Copy)]
struct Operand {
    at: *const u8,
    stride: usize,
}

/// One tile product, `c += a·b` of the named tile registers: `tdpbf16ps` when `$bf16`, else
/// `tdpbusd`.
macro_rules! tile_product {
    ($bf16:expr, $tiles:literal) => {
        match $bf16 {
            true => asm!(concat!("tdpbf16ps ", $tiles), options(nostack, nomem)),
            false => asm!(concat!("tdpbusd ", $tiles), options(nostack, nomem)),
        }
    };
}

/// The sums of `BLOCKS` 16-row blocks of activations (`a`) against `VECTORS` 16-channel
/// vectors of a panel (`b`: one group of every channel a row, `height` rows) into `sums`
/// (their bits: f32 for bf16 products, i32 for int8).
#[inline(always)]
unsafe fn multiply<const BLOCKS: usize, const VECTORS: usize, const BF16: bool>(
    a: Operand,
    b: Operand,
    height: usize,
    sums: &mut Sums,
) {
    asm!(
        "tilezero tmm0",
        "tilezero tmm1",
        "tilezero tmm2",
        "tilezero tmm3",
        options(nostack, nomem)
    );
    let second_block = a.stride * TILE_ROWS;
    for p in (0..height).step_by(TILE_WORDS) {
        // The activations' next 64 bytes of each row; the weights' next 16 rows.
        let (a_at, b_at) = (a.at.add(p * 4), b.at.add(p * b.stride));
        asm!("tileloadd tmm4, [{a} + {sa} * 1]", "tileloadd tmm6, [{b} + {sb} * 1]",
             a = in(reg) a_at, sa = in(reg) a.stride, b = in(reg) b_at, sb = in(reg) b.stride,
             options(nostack, readonly));
        tile_product!(BF16, "tmm0, tmm4, tmm6");
        if VECTORS == 2 {
            asm!("tileloadd tmm7, [{b} + {sb} * 1]",
                 b = in(reg) b_at.add(LANES * 4), sb = in(reg) b.stride, options(nostack, readonly));
            tile_product!(BF16, "tmm1, tmm4, tmm7");
        }
        if BLOCKS == 2 {
            asm!("tileloadd tmm5, [{a} + {sa} * 1]",
                 a = in(reg) a_at.add(second_block), sa = in(reg) a.stride, options(nostack, readonly));
            tile_product!(BF16, "tmm2, tmm5, tmm6");
            if VECTORS == 2 {
                tile_product!(BF16, "tmm3, tmm5, tmm7");
            }
        }
    }
    let stride = LANES * 4;
    let mut out = |block: usize, vector: usize| sums.0[block][vector].as_mut_ptr();
    asm!("tilestored [{p} + {s} * 1], tmm0", p = in(reg) out(0, 0), s = in(reg) stride, options(nostack));
    if VECTORS == 2 {
        asm!("tilestored [{p} + {s} * 1], tmm1", p = in(reg) out(0, 1), s = in(reg) stride, options(nostack));
    }
    if BLOCKS == 2 {
        asm!("tilestored [{p} + {s} * 1], tmm2", p = in(reg) out(1, 0), s = in(reg) stride, options(nostack));
        if VECTORS == 2 {
            asm!("tilestored [{p} + {s} * 1], tmm3", p = in(reg) out(1, 1), s = in(reg) stride, options(nostack));
        }
    }
}
