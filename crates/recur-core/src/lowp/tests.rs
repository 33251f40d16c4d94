use super::*;
use crate::Rng;

/// Shapes with odd `k` (padding inside a word), partial vectors and panels, and row counts
/// that leave partial tiles and row blocks; and for AMX, whole 16-row tiles with and without
/// a partial group of `k`, an odd last vector, and rows left over for AVX-512.
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 1, 1),
    (7, 17, 5),
    (13, 70, 130),
    (32, 512, 128),
    (9, 345, 128),
    (67, 64, 3),
    (16, 16, 64),
    (48, 100, 75),
    (35, 512, 128),
];

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform_range(-1.0, 1.0) as f32).collect()
}

/// `A·Wᵀ` in f64 and, beside it, `Σ|a||w|` per output (the scale rounding errors grow with).
fn reference(m: usize, n: usize, k: usize, a: &[f32], w: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let mut exact = vec![0.0; m * n];
    let mut magnitude = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                let (x, y) = (a[i * k + p] as f64, w[j * k + p] as f64);
                exact[i * n + j] += x * y;
                magnitude[i * n + j] += (x * y).abs();
            }
        }
    }
    (exact, magnitude)
}

/// Every kernel path a product can be asked to take (those the CPU lacks fall back).
const EVERY_PATH: [KernelPath; 4] = [
    KernelPath::Detected,
    KernelPath::Avx512,
    KernelPath::Avx2,
    KernelPath::Portable,
];

fn product(format: Format, path: KernelPath, m: usize, n: usize, k: usize, a: &[f32], w: &[f32]) -> Vec<f32> {
    let packed = PackedWeights::pack(format, w, n, k);
    // Start from ones and accumulate, so the accumulate path is covered too.
    let mut c = vec![1.0f32; m * n];
    packed.matmul_on(path, m, a, k, &mut c, n, true);
    c.iter().map(|v| v - 1.0).collect()
}

#[test]
fn bf16_round_to_nearest_even() {
    assert_eq!(bf16_bits(1.0), 0x3f80);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
    assert_eq!(bf16_bits(1.0 + 1.0 / 256.0), 0x3f80);
    assert_eq!(bf16_bits(1.0 + 3.0 / 256.0), 0x3f82);
    assert_eq!(bf16_value(bf16_bits(-2.5)), -2.5);
    assert!(bf16_value(bf16_bits(f32::NAN)).is_nan());
}

/// `format`'s products on the detected kernel are within `bound(k, Σ|a||w|)` of the exact ones.
fn assert_within_rounding_bound(format: Format, seed: u64, bound: impl Fn(usize, f64) -> f64) {
    let mut rng = Rng::new(seed);
    for (m, n, k) in SHAPES {
        let (a, w) = (random(m * k, &mut rng), random(n * k, &mut rng));
        let (exact, magnitude) = reference(m, n, k, &a, &w);
        let got = product(format, KernelPath::Detected, m, n, k, &a, &w);
        for ((g, e), &mag) in got.iter().zip(&exact).zip(&magnitude) {
            let bound = bound(k, mag);
            assert!(
                (*g as f64 - e).abs() <= bound,
                "{format:?} {m}×{n}×{k}: {g} vs {e} (bound {bound})"
            );
        }
    }
}

/// bf16 products are within `(2·2⁻⁸ + k·2⁻²⁴)·Σ|a||w|` of the exact ones: each operand is
/// off by at most 2⁻⁹ relative, and the f32 sum adds at most one rounding per term.
#[test]
fn bf16_matmul_is_within_its_rounding_bound_of_f64() {
    assert_within_rounding_bound(Format::Bf16, 3, |k, mag| {
        (2.0 / 256.0 + k as f64 / 16_777_216.0) * mag + 1e-6
    });
}

/// f32 products are within `(k + 2)·2⁻²⁴·(Σ|a||w| + 1)` of the exact ones: one rounding per
/// term, and two more for `product`'s accumulation onto ones and the subtraction after it.
#[test]
fn f32_matmul_is_within_its_rounding_bound_of_f64() {
    assert_within_rounding_bound(Format::F32, 4, |k, mag| (k as f64 + 2.0) / 16_777_216.0 * (mag + 1.0));
}

/// int8 products are within the quantisation bound of the exact ones: with `a` off by at most
/// half its row's step `sa` and `w` by half its channel's step `sw`, the error of each term is at
/// most `|a|·sw/2 + |w|·sa/2 + sa·sw/4`.
#[test]
fn int8_matmul_is_within_its_quantisation_bound_of_f64() {
    let mut rng = Rng::new(4);
    for (m, n, k) in SHAPES {
        let (a, w) = (random(m * k, &mut rng), random(n * k, &mut rng));
        let (exact, _) = reference(m, n, k, &a, &w);
        let got = product(Format::Int8, KernelPath::Detected, m, n, k, &a, &w);
        for i in 0..m {
            let row = &a[i * k..(i + 1) * k];
            let (lo, hi) = row.iter().fold((0.0f32, 0.0f32), |(l, h), &v| (l.min(v), h.max(v)));
            let sa = ((hi - lo) / 255.0) as f64;
            for j in 0..n {
                let channel = &w[j * k..(j + 1) * k];
                let sw = channel.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64 / super::WEIGHT_LEVELS as f64;
                let bound: f64 = row
                    .iter()
                    .zip(channel)
                    .map(|(&x, &y)| (x as f64).abs() * sw / 2.0 + (y as f64).abs() * sa / 2.0 + sa * sw / 4.0)
                    .sum::<f64>()
                    * 1.001
                    + 1e-5;
                let (g, e) = (got[i * n + j] as f64, exact[i * n + j]);
                assert!(
                    (g - e).abs() <= bound,
                    "{m}×{n}×{k} at ({i},{j}): {g} vs {e} (bound {bound})"
                );
            }
        }
    }
}

/// The AMX, AVX-512 and AVX2 kernels give the same bits as the portable ones, each where the
/// CPU has its instructions (elsewhere that path is a slower one and there is nothing new to
/// compare).
#[test]
fn f32_bf16_and_int8_simd_paths_match_the_portable_fallback() {
    let mut rng = Rng::new(5);
    for format in [Format::F32, Format::Bf16, Format::Int8] {
        let amx = format == Format::Int8 && KernelPath::amx_available(Format::Int8);
        let paths = [
            (KernelPath::Detected, amx, "AMX"),
            (KernelPath::Avx512, format.fast_path_available(), "AVX-512"),
            (KernelPath::Avx2, KernelPath::avx2_available(), "AVX2"),
        ];
        for (path, available, name) in paths {
            if !available {
                eprintln!("skipping {format:?} on {name}: this CPU lacks its instructions");
                continue;
            }
            for (m, n, k) in SHAPES {
                let (a, w) = (random(m * k, &mut rng), random(n * k, &mut rng));
                let simd = product(format, path, m, n, k, &a, &w);
                let portable = product(format, KernelPath::Portable, m, n, k, &a, &w);
                for (f, p) in simd.iter().zip(&portable) {
                    assert_eq!(f.to_bits(), p.to_bits(), "{format:?} {name} {m}×{n}×{k}: {f} vs {p}");
                }
            }
        }
    }
}

/// bf16 on the AMX tile unit ([`KernelPath::AnyOrder`]) rounds the same operands as the other
/// paths and only adds them in another order, so it stays within f32 rounding of the portable
/// path; a row next to infinite values (which a tile reading past a row would meet as
/// infinity × 0 = NaN) stays finite.
#[test]
fn bf16_on_amx_matches_the_portable_path_to_f32_rounding() {
    if !KernelPath::amx_available(Format::Bf16) {
        eprintln!("skipping bf16 on AMX: this CPU lacks AMX-BF16");
        return;
    }
    let mut rng = Rng::new(6);
    for (m, n, k) in SHAPES
        .into_iter()
        .chain([(100, 1024, 256), (64, 256, 1024), (33, 40, 7)])
    {
        let (mut a, w) = (random(m * k, &mut rng), random(n * k, &mut rng));
        if m > 16 {
            a[16 * k..17 * k].fill(f32::INFINITY);
        }
        let tiles = product(Format::Bf16, KernelPath::AnyOrder, m, n, k, &a, &w);
        let portable = product(Format::Bf16, KernelPath::Portable, m, n, k, &a, &w);
        for i in (0..m).filter(|&i| m <= 16 || i != 16) {
            for j in 0..n {
                let magnitude: f32 = (0..k).map(|p| (a[i * k + p] * w[j * k + p]).abs()).sum();
                let (t, p) = (tiles[i * n + j], portable[i * n + j]);
                let bound = magnitude * k as f32 * 2.0 * f32::EPSILON + 1e-6;
                assert!((t - p).abs() <= bound, "{m}×{n}×{k} at ({i},{j}): {t} vs {p}");
            }
        }
    }
}

/// Packing the columns of `x` gives the same weights as packing its transpose.
#[test]
fn packing_columns_equals_packing_the_transpose() {
    let mut rng = Rng::new(9);
    for format in [Format::F32, Format::Bf16] {
        for (k, n) in [(1, 1), (7, 5), (33, 130), (256, 64), (17, 1024)] {
            let x = random(k * n, &mut rng);
            let transposed: Vec<f32> = (0..n * k).map(|i| x[(i % k) * n + i / k]).collect();
            let (columns, rows) = (
                PackedWeights::pack_columns(format, &x, k, n),
                PackedWeights::pack(format, &transposed, n, k),
            );
            assert_eq!(&columns.words[..], &rows.words[..], "{format:?} {k}×{n}");
        }
    }
}

/// The largest pairs the int8 codes allow (activation 255 or 0 against weight ±63, in
/// every sign pattern) give the same sums on every path: AVX2's saturating pair sums stay
/// below `i16::MAX`.
#[test]
fn int8_extreme_codes_do_not_saturate_any_path() {
    // 19 rows: one whole AMX tile and three rows for the AVX-512 kernel.
    let (m, n, k) = (19, 24, 36);
    // Rows of 1.0 and −1.0 alternating in runs: their codes are 255 and 0.
    let a: Vec<f32> = (0..m * k)
        .map(|i| if (i / 2 + i / k) % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    // Weights ±1 in every pattern of signs across a word.
    let w: Vec<f32> = (0..n * k)
        .map(|i| if (i >> (i % 4)) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let (exact, _) = reference(m, n, k, &a, &w);
    let portable = product(Format::Int8, KernelPath::Portable, m, n, k, &a, &w);
    for (p, e) in portable.iter().zip(&exact) {
        assert!((*p as f64 - e).abs() < 0.02 * k as f64, "portable {p} vs exact {e}");
    }
    for path in [KernelPath::Detected, KernelPath::Avx512, KernelPath::Avx2] {
        let simd = product(Format::Int8, path, m, n, k, &a, &w);
        for (f, p) in simd.iter().zip(&portable) {
            assert_eq!(f.to_bits(), p.to_bits(), "{path:?}: {f} vs {p}");
        }
    }
}

/// Without `accumulate` the product overwrites `c`, and only its `n` columns of each row:
/// a wider `ldc` keeps the columns past `n`.
#[test]
fn precision_matmul_overwrites_only_its_window() {
    let mut rng = Rng::new(6);
    // 21 rows: a whole AMX tile and five rows for the AVX-512 kernel.
    let (m, n, k, ldc) = (21, 20, 9, 23);
    let (a, w) = (random(m * k, &mut rng), random(n * k, &mut rng));
    for format in [Format::F32, Format::Bf16, Format::Int8] {
        for path in EVERY_PATH {
            let packed = PackedWeights::pack(format, &w, n, k);
            let mut c = vec![7.0f32; m * ldc];
            packed.matmul_on(path, m, &a, k, &mut c, ldc, false);
            let want = product(format, path, m, n, k, &a, &w);
            for i in 0..m {
                for j in 0..ldc {
                    let got = c[i * ldc + j];
                    if j < n {
                        assert!((got - want[i * n + j]).abs() < 1e-5, "{format:?} {path:?}");
                    } else {
                        assert_eq!(got, 7.0);
                    }
                }
            }
        }
    }
}

/// Rows of `a` lying `lda > k` apart (the f32 kernel reads them in place; the others pack
/// them) give every path the same bits as the same rows packed tight on the portable path.
#[test]
fn rows_apart_give_the_bits_of_rows_together() {
    let mut rng = Rng::new(9);
    let (m, n, k, lda) = (13, 70, 37, 50);
    let (wide, w) = (random(m * lda, &mut rng), random(n * k, &mut rng));
    let tight: Vec<f32> = wide.chunks(lda).flat_map(|row| &row[..k]).copied().collect();
    for format in [Format::F32, Format::Bf16, Format::Int8] {
        let want = product(format, KernelPath::Portable, m, n, k, &tight, &w);
        for path in EVERY_PATH {
            let packed = PackedWeights::pack(format, &w, n, k);
            let mut c = vec![1.0f32; m * n];
            packed.matmul_on(path, m, &wide[..(m - 1) * lda + k], lda, &mut c, n, true);
            let got: Vec<f32> = c.iter().map(|v| v - 1.0).collect();
            assert_eq!(got, want, "{format:?} {path:?}");
        }
    }
}

/// GFLOP/s of the kernels beside `matmul` f32 on the shapes the models run (one core):
/// `cargo test --release -p recur-core lowp_kernel_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn lowp_kernel_speed() {
    use std::time::Instant;
    let mut rng = Rng::new(7);
    for (name, m, n, k) in [
        ("recurrent step", 32, 512, 128),
        // One drawing served alone, and four together: the weights are streamed whole either
        // way, so these show what the batch-1 latency is bound by.
        ("recurrent step, 1 sequence", 1, 512, 128),
        ("recurrent step, 4 sequences", 4, 512, 128),
        ("input projection", 3200, 512, 128),
        ("dense", 64, 345, 128),
    ] {
        let (a, w) = (random(m * k, &mut rng), random(n * k, &mut rng));
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let time = |f: &mut dyn FnMut()| {
            f();
            let (start, mut calls) = (Instant::now(), 0);
            while start.elapsed().as_secs_f64() < 0.5 {
                f();
                calls += 1;
            }
            flops * calls as f64 / start.elapsed().as_secs_f64() / 1e9
        };
        // fp32 as stored (`W` transposed in the product), and on the transposed copy, `[k, n]`,
        // that fp32 inference keeps of a recurrent matrix.
        let mut w_t = vec![0.0f32; k * n];
        for (j, row) in w.chunks_exact(k).enumerate() {
            for (p, &v) in row.iter().enumerate() {
                w_t[p * n + j] = v;
            }
        }
        let [fp32, fp32_kept] =
            [(&w, k, crate::Transpose::Yes), (&w_t, n, crate::Transpose::No)].map(|(b, ldb, tb)| {
                time(&mut || crate::matmul(m, n, k, &a, k, crate::Transpose::No, b, ldb, tb, &mut c, n, false))
            });
        let mut line = format!("{name} {m}×{n}×{k}: fp32 {fp32:.0}, fp32 Wᵀ kept {fp32_kept:.0}");
        for format in [Format::F32, Format::Bf16, Format::Int8] {
            let packed = PackedWeights::pack(format, &w, n, k);
            for path in EVERY_PATH {
                let g = time(&mut || packed.matmul_on(path, m, &a, k, &mut c, n, false));
                line += &format!(", {format:?} {path:?} {g:.0}");
            }
        }
        println!("{line} GFLOP/s");
    }
}

/// The AVX-512 quantiser packs the same bytes, scales and zero points as the scalar one, on
/// rows of every length around a vector's, all-zero and one-sided rows, and NaN.
#[test]
fn int8_vector_quantiser_matches_the_scalar_one() {
    #[cfg(target_arch = "x86_64")]
    {
        if !std::is_x86_feature_detected!("avx512f") {
            eprintln!("skipping: this CPU has no AVX-512F");
            return;
        }
        let mut rng = Rng::new(8);
        for k in [1, 3, 15, 16, 17, 40, 128, 130] {
            let m = 6;
            let mut a = random(m * k, &mut rng);
            a[k..2 * k].fill(0.0);
            a[2 * k..3 * k].iter_mut().for_each(|v| *v = v.abs() * 3.0);
            a[3 * k..4 * k].iter_mut().for_each(|v| *v = -v.abs());
            a[4 * k] = f32::NAN;
            let groups = k.div_ceil(4);
            let mut rows = PackedRows::new(vec![0; m * groups], groups);
            // SAFETY: checked for AVX-512F above; the buffers hold m rows.
            unsafe { super::x86::quantise_rows(m, &a, k, k, groups, &mut rows) };
            for i in 0..m {
                let mut bytes = vec![0u8; k];
                let (scale, zero_point) = quantise_row(&a[i * k..(i + 1) * k], &mut bytes);
                let packed: Vec<u8> = rows.words[i * groups..(i + 1) * groups]
                    .iter()
                    .flat_map(|w| w.to_le_bytes())
                    .collect();
                assert_eq!(&packed[..k], &bytes[..], "k {k}, row {i}");
                assert_eq!(
                    (rows.scales[i].to_bits(), rows.zero_points[i]),
                    (scale.to_bits(), zero_point),
                    "k {k}, row {i}"
                );
            }
        }
    }
}
