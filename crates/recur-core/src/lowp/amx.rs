//! The AMX int8 kernel (Intel's tile matrix unit, Sapphire Rapids and later): one `tdpbusd`
//! multiplies a tile of 16 rows × 64 `u8` activations by 64 × 16 `i8` weights into 16 × 16
//! `i32` sums, 16,384 products, where one AVX-512 `vpdpbusd` makes 64. The sums are exact, as
//! `vpdpbusd`'s are, so this path gives the same integers, and after the shared AVX-512
//! dequantisation the same bits, as every other int8 path.
//!
//! The packed weights need no other layout: a panel is `[height][vectors·16]` words, so 16
//! groups of one 16-channel vector are a weight tile of 16 rows (one group each) of 64 bytes,
//! read with the panel's width as the row stride; 16 rows of packed activations, 16 groups
//! wide, are an activation tile the same way. int8 panels are padded with zero weights to whole
//! tiles of `k`, so a row's last tile may run past the row (into the next row, or the zeros
//! after the last): those bytes meet zero weights and add nothing. Only whole blocks of 16
//! rows run here; a call's last rows (and calls of fewer than 16) go to the AVX-512 kernel,
//! where the tile unit would multiply mostly padding.
//!
//! The tile registers hold 8 KiB of state that Linux saves only for a process that asks for
//! it (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), so the kernel counts as available only once that
//! request has been granted. Tiles are configured at the start of each call and released at
//! its end, so no thread holds tile state between products.

use super::{x86, Output, PackedRows, PackedWeights, Tile, LANES, PANEL_VECTORS, TILE_WORDS};
use std::arch::asm;
use std::arch::x86_64::{__m512i, _mm512_load_si512};
use std::sync::OnceLock;

/// Rows of activations (and of sums) per tile.
const TILE_ROWS: usize = 16;

/// True when this CPU has AMX with int8 and the OS has granted this process the tile state.
pub(super) fn available() -> bool {
    static GRANTED: OnceLock<bool> = OnceLock::new();
    *GRANTED.get_or_init(|| cpu_has_amx_int8() && x86::available(super::Format::Int8) && request_tile_state())
}

/// CPUID leaf 7: AMX-TILE (EDX bit 24) and AMX-INT8 (bit 25); XCR0 bits 17 and 18: the OS
/// saves tile configuration and data on a context switch.
fn cpu_has_amx_int8() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID exists on every x86-64 CPU; XGETBV is only run where CPUID says OSXSAVE.
    unsafe {
        let amx = __cpuid_count(7, 0).edx >> 24 & 3 == 3;
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

/// `c (+)= A·Wᵀ` for int8 weights, rows `0..m`: whole 16-row blocks on the tile unit, the rest on
/// the AVX-512 kernel.
///
/// # Safety
/// [`available`] must be true, `w` must be int8, and `out` must hold `m` rows of `ldc ≥ n`
/// values (as `rows` holds `m` rows of `w.groups` words, then [`TILE_WORDS`] more).
pub(super) unsafe fn run_int8(w: &PackedWeights, rows: &PackedRows, m: usize, out: Output) {
    let whole = m / TILE_ROWS * TILE_ROWS;
    if whole > 0 {
        tiles_int8(w, rows, whole, out);
    }
    if whole < m {
        x86::run_rows(w, rows, whole..m, out);
    }
}

/// Rows `0..m` (`m` a multiple of 16) in pairs of 16-row blocks against every panel's pairs of
/// 16-channel vectors (a last odd block or vector alone).
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn tiles_int8(w: &PackedWeights, rows: &PackedRows, m: usize, out: Output) {
    let config = TileConfig::new();
    asm!("ldtilecfg [{}]", in(reg) &config, options(nostack, readonly));
    let mut sums = Sums([[[[0; LANES]; TILE_ROWS]; 2]; 2]);
    for i in (0..m).step_by(2 * TILE_ROWS) {
        let blocks = if m - i > TILE_ROWS { 2 } else { 1 };
        let a = Operand {
            at: rows.words.as_ptr().add(i * w.groups) as *const u8,
            stride: w.groups * 4,
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
                    (2, 2) => multiply::<2, 2>(a, b, w.height, &mut sums),
                    (2, _) => multiply::<2, 1>(a, b, w.height, &mut sums),
                    (_, 2) => multiply::<1, 2>(a, b, w.height, &mut sums),
                    _ => multiply::<1, 1>(a, b, w.height, &mut sums),
                }
                let channel = first + v * LANES;
                for (block, block_sums) in sums.0.iter().enumerate().take(blocks) {
                    // The dequantisation reads only the output and scale fields.
                    let tile = Tile::<u32>::new(w, rows, out, i + block * TILE_ROWS, channel, 2 * LANES);
                    for r in 0..TILE_ROWS {
                        for (vector, vector_sums) in block_sums.iter().enumerate().take(vectors) {
                            let acc: __m512i = _mm512_load_si512(vector_sums[r].as_ptr() as *const _);
                            x86::store_int8(&tile, r, vector, acc);
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

/// The sums of `BLOCKS` 16-row blocks of activations (`a`) against `VECTORS` 16-channel
/// vectors of a panel (`b`: one group of every channel a row, `height` rows) into `sums`.
#[inline(always)]
unsafe fn multiply<const BLOCKS: usize, const VECTORS: usize>(a: Operand, b: Operand, height: usize, sums: &mut Sums) {
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
             "tdpbusd tmm0, tmm4, tmm6",
             a = in(reg) a_at, sa = in(reg) a.stride, b = in(reg) b_at, sb = in(reg) b.stride,
             options(nostack, readonly));
        if VECTORS == 2 {
            asm!("tileloadd tmm7, [{b} + {sb} * 1]", "tdpbusd tmm1, tmm4, tmm7",
                 b = in(reg) b_at.add(LANES * 4), sb = in(reg) b.stride, options(nostack, readonly));
        }
        if BLOCKS == 2 {
            asm!("tileloadd tmm5, [{a} + {sa} * 1]", "tdpbusd tmm2, tmm5, tmm6",
                 a = in(reg) a_at.add(second_block), sa = in(reg) a.stride, options(nostack, readonly));
            if VECTORS == 2 {
                asm!("tdpbusd tmm3, tmm5, tmm7", options(nostack, nomem));
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
