//! MiniRocket parity with sktime on the same parameters: each file under
//! `tests/fixtures_minirocket/` (written by `tools/make_minirocket_fixture.py`) holds a padded
//! batch, the parameters sktime's `_fit_multi_var` fitted on it (channel combinations,
//! dilations, features per dilation, biases) and the features `_transform_multi_var` gives.
//! recur's layer, built from those parameters, must give the same features, and
//! `minirocket::dilations` the same dilations.
//!
//! sktime sums in float32 (with fastmath), recur here in float64 on the same float32 values.
//! A bias is a quantile of one training sequence's convolution, and where it falls between two
//! equal values it is exactly that value, so sktime sees those steps tie the bias (not above)
//! while recur's float64 sum may put them just above: the feature is then off by as many steps
//! as tie. So each feature is also counted from the convolution by its definition, and a
//! feature may differ only by steps within float32 rounding of its bias. On the grid fixture
//! every sum is exact in both, so every feature must agree.

use recur_core::{Rng, Seq, Shape};
use recur_nn::minirocket::{dilations, MiniRocket, KERNELS};
use recur_nn::{Ctx, Layer};
#[allow(dead_code)]
mod common;

use common::tensor;
use safetensors::SafeTensors;
use std::path::Path;

/// A fixture's integers (stored as float64).
fn ints(st: &SafeTensors, name: &str) -> Vec<usize> {
    tensor(st, name).1.iter().map(|&v| v as usize).collect()
}

/// The three taps each kernel weighs 2, in `itertools.combinations(range(9), 3)` order.
fn kernel_taps() -> Vec<[usize; 3]> {
    let mut taps = Vec::new();
    for a in 0..9 {
        for b in a + 1..9 {
            for c in b + 1..9 {
                taps.push([a, b, c]);
            }
        }
    }
    taps
}

/// `Σ_j w_j · Σ_c x[t + (j − 4)·d, c]` over `steps` steps (zeros outside the sequence).
fn convolution(x: &Seq<f64>, b: usize, steps: usize, taps: [usize; 3], d: usize, channels: &[usize]) -> Vec<f64> {
    (0..steps as isize)
        .map(|t| {
            let mut sum = 0.0;
            for j in 0..9 {
                let at = t + (j as isize - 4) * d as isize;
                if (0..x.lengths[b] as isize).contains(&at) {
                    let w = if taps.contains(&j) { 2.0 } else { -1.0 };
                    sum += channels.iter().map(|&c| w * x.step(b, at as usize)[c]).sum::<f64>();
                }
            }
            sum
        })
        .collect()
}

/// Checks one fixture: returns how many features differ from sktime's (each by float ties
/// alone, or the check fails).
fn check_fixture(name: &str) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures_minirocket")
        .join(format!("{name}.safetensors"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).unwrap();

    let (shape, data) = tensor(&st, "x");
    let x = Seq::new(data, shape[0], shape[1], shape[2], ints(&st, "lengths")).unwrap();

    // The dilations and features per dilation recur spreads for the same settings.
    let spread: Vec<(usize, usize)> = ints(&st, "dilations")
        .into_iter()
        .zip(ints(&st, "num_features_per_dilation"))
        .collect();
    let reference_length = ints(&st, "reference_length")[0];
    let asked = ints(&st, "num_features")[0];
    let max_dilations = ints(&st, "max_dilations_per_kernel")[0];
    assert_eq!(
        dilations(reference_length, asked, max_dilations),
        spread,
        "{name}: dilations"
    );

    // sktime's channel combinations: `channel_indices` cut by `num_channels_per_combination`.
    let mut indices = ints(&st, "channel_indices").into_iter();
    let channels: Vec<Vec<usize>> = ints(&st, "num_channels_per_combination")
        .into_iter()
        .map(|n| indices.by_ref().take(n).collect())
        .collect();
    assert_eq!(indices.next(), None, "{name}: channel indices left over");
    let biases = tensor(&st, "biases").1;
    let layer = MiniRocket::<f64>::with_parameters(x.shape(), &spread, channels.clone(), biases.clone()).unwrap();

    let (features_shape, want) = tensor(&st, "features");
    let mut rng = Rng::new(0);
    let mut ctx = Ctx::new(false, &mut rng);
    let (y, _) = layer.forward(x.clone(), &mut ctx);
    assert_eq!(
        (y.batch, y.features),
        (features_shape[0], features_shape[1]),
        "{name}: shape"
    );

    let taps = kernel_taps();
    let (mut differ, mut tied_steps) = (0, 0);
    for b in 0..x.batch {
        let steps = x.lengths[b].max(9);
        let row = b * y.features;
        let mut f = 0;
        for (i, (d, per_kernel)) in spread.iter().flat_map(|&s| std::iter::repeat_n(s, KERNELS)).enumerate() {
            let conv = convolution(&x, b, steps, taps[i % KERNELS], d, &channels[i]);
            for _ in 0..per_kernel {
                // Each feature is (steps above its bias) / steps, sktime's in float32.
                let ours = y.data[row + f] * steps as f64;
                let theirs = want[row + f] * steps as f64;
                assert!(
                    (theirs - theirs.round()).abs() < 1e-3,
                    "{name}: sktime's feature {f} of {b}"
                );
                let (ours, theirs) = (ours.round() as usize, theirs.round() as usize);
                let bias = biases[f];
                let tolerance = 1e-5 * (1.0 + bias.abs());
                let above = conv.iter().filter(|&&v| v > bias + tolerance).count();
                let ties = conv.iter().filter(|&&v| (v - bias).abs() <= tolerance).count();
                for (who, n) in [("recur", ours), ("sktime", theirs)] {
                    assert!(
                        (above..=above + ties).contains(&n),
                        "{name}: feature {f} of sequence {b} ({} steps): {who} counts {n} steps above \
                         bias {bias}, the definition {above} and {ties} within float rounding of it \
                         (recur {ours}, sktime {theirs})",
                        x.lengths[b]
                    );
                }
                if ours != theirs {
                    differ += 1;
                    tied_steps += ours.abs_diff(theirs);
                }
                f += 1;
            }
        }
        assert_eq!(f, y.features);
    }
    let total = y.data.len();
    println!(
        "{name}: {} of {total} features equal to sktime's; {differ} differ, by {tied_steps} steps \
         that tie their bias within float32 rounding",
        total - differ
    );
    differ
}

/// Standard normal float32 values: features may differ only where steps tie a bias.
#[test]
fn minirocket_matches_sktime() {
    let differ = check_fixture("minirocket");
    assert!(
        differ <= 50,
        "{differ} features differ by ties (of 5,040): more than expected"
    );
}

/// Values on a 1/64 grid, so every sum is exact in float32 and float64: every feature agrees,
/// including those of sequences shorter than 9 steps (which sktime sees padded with zeros).
#[test]
fn minirocket_matches_sktime_exactly_on_a_grid() {
    assert_eq!(check_fixture("minirocket_grid"), 0);
}

#[test]
fn minirocket_with_parameters_refuses_wrong_sizes() {
    let input = Shape::new(3, true);
    let spread = [(1, 2), (3, 1)];
    let ok = vec![vec![0]; 2 * KERNELS];
    let biases = vec![0.0f64; 3 * KERNELS];
    assert!(MiniRocket::with_parameters(input, &spread, ok.clone(), biases.clone()).is_ok());
    let error = |spread: &[(usize, usize)], channels: Vec<Vec<usize>>, biases: Vec<f64>| {
        MiniRocket::with_parameters(input, spread, channels, biases)
            .err()
            .unwrap()
    };
    assert!(error(&[], vec![], vec![]).contains("at least one dilation"));
    assert!(error(&[(0, 2), (3, 1)], ok.clone(), biases.clone()).contains("at least 1"));
    assert!(error(&spread, ok[1..].to_vec(), biases.clone()).contains("168 channel combinations"));
    let mut empty = ok.clone();
    empty[5] = vec![];
    assert!(error(&spread, empty, biases.clone()).contains("combination 5 is empty"));
    let mut outside = ok.clone();
    outside[7] = vec![1, 3];
    assert!(error(&spread, outside, biases.clone()).contains("names channel 3"));
    assert!(error(&spread, ok, biases[1..].to_vec()).contains("252 features"));
}
