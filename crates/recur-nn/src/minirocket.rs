//! MiniRocket (Dempster, Schmidt and Webb, 2021): a fixed transform of a sequence into
//! thousands of features, each the share of steps where one of 84 fixed length-9 convolutions
//! (weights −1 and 2), at one dilation, over a random subset of the channels, exceeds a bias.
//! A linear classifier on these features is among the most accurate time-series classifiers
//! known, and fitting one in closed form takes seconds (see `recur fit`'s ridge solver).
//!
//! The layer follows sktime's variable-length multivariate variant
//! (`MiniRocketMultivariateVariable`): dilations are spread on a log scale up to what the
//! reference `length` allows, each (dilation, kernel) pair draws its channels, convolutions see
//! zeros beyond a sequence's ends, the share counts every step of the sequence (a sequence
//! shorter than 9 steps is seen with zeros up to 9, as sktime pads it) and the biases are
//! quantiles of the convolution of a random training sequence, set by [`Layer::adapt`]. The
//! channel draws come from the config's `seed`, so a checkpoint needs only the biases.
//!
//! The features are step functions of the input: their gradient is zero wherever it exists,
//! so backward passes nothing on and the layer has nothing to train.

use crate::layer::{no_input_grad, Ctx, Layer, Param, Tape};
use crate::spec::{needs_time, size, LayerSpec};
use recur_core::math::dispatch;
use recur_core::{Float, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

/// Kernel taps: each of the 84 kernels weighs three of its nine taps 2 and the rest −1.
pub const TAPS: usize = 9;
/// The number of kernels: every choice of 3 taps out of 9.
pub const KERNELS: usize = 84;
/// The shortest sequence the transform sees (shorter ones get zeros up to it).
pub const MIN_STEPS: usize = TAPS;

fn default_features() -> usize {
    10_000
}
fn default_max_dilations() -> usize {
    32
}

/// A MiniRocket layer's settings, as written in a config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiniRocketOptions {
    /// Features asked for; rounded down to a multiple of 84 (sktime's `num_kernels`).
    #[serde(default = "default_features")]
    pub features: usize,
    /// Most dilations per kernel.
    #[serde(default = "default_max_dilations")]
    pub max_dilations: usize,
    /// The reference length the dilations are spread over (the longest training sequence).
    pub length: usize,
    /// Seed of the channel draws.
    #[serde(default)]
    pub seed: u64,
    /// What each (convolution, bias) pair gives: its share of steps above the bias, or
    /// MultiRocket's four statistics.
    #[serde(default)]
    pub pooling: Pooling,
}

impl LayerSpec for MiniRocketOptions {
    fn kind(&self) -> &'static str {
        "minirocket"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        needs_time(input)?;
        size("input features", input.features)?;
        self.check()?;
        Ok(Shape::new(self.output_features(), false))
    }
    fn parameter_count(&self, _input: Shape) -> u64 {
        self.biases() as u64
    }
    fn build<T: Float>(&self, input: Shape, _rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(MiniRocket::new(input, self))
    }
}

/// The statistics of a convolution's steps above a bias that become features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// MiniRocket's proportion of positive values (PPV): the share of steps above the bias.
    #[default]
    Ppv,
    /// MultiRocket's four (Tan et al., 2022): PPV, the mean of the values above the bias (MPV,
    /// less the bias), the mean position of the steps above it (MIPV, as a share of the length;
    /// −1 when there are none) and the longest run of steps above it (LSPV, as a share), in four
    /// blocks of `features` each.
    Multi,
}

impl Pooling {
    /// Features per (convolution, bias) pair.
    pub fn statistics(self) -> usize {
        match self {
            Pooling::Ppv => 1,
            Pooling::Multi => 4,
        }
    }
}

impl MiniRocketOptions {
    /// The (convolution, bias) pairs: `features` rounded down to a multiple of 84.
    pub fn biases(&self) -> usize {
        self.features / KERNELS * KERNELS
    }

    /// The features the layer gives: a block of [`MiniRocketOptions::biases`] per statistic.
    pub fn output_features(&self) -> usize {
        self.biases() * self.pooling.statistics()
    }

    /// Checks the settings; the error names what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if self.features < KERNELS {
            return Err(format!("features must be at least {KERNELS}, got {}", self.features));
        }
        if self.max_dilations == 0 {
            return Err("max_dilations must be at least 1".into());
        }
        if self.length == 0 {
            return Err("length must be at least 1".into());
        }
        // Beyond these a layer's buffers (a sequence padded by half the largest dilation's
        // span on each side, the output row) would not fit in memory.
        let most = crate::spec::MAX_WIDTH;
        if self.length > most {
            return Err(format!(
                "length {} is more steps than recur allows ({most})",
                self.length
            ));
        }
        if self.features > most / Pooling::Multi.statistics() {
            return Err(format!(
                "features {} is more than recur allows ({})",
                self.features,
                most / Pooling::Multi.statistics()
            ));
        }
        Ok(())
    }
}

/// The three taps weighed 2 by kernel `k`, in the order of `itertools.combinations(range(9), 3)`.
fn kernel_taps() -> Vec<[usize; 3]> {
    let mut taps = Vec::with_capacity(KERNELS);
    for a in 0..TAPS {
        for b in a + 1..TAPS {
            for c in b + 1..TAPS {
                taps.push([a, b, c]);
            }
        }
    }
    taps
}

/// Dilations and the features each gets per kernel, as sktime spreads them: `max_dilations`
/// points on a log scale from 1 to `(length − 1) / 8`, truncated, repeats merged, the counts
/// scaled to the features per kernel and the remainder dealt from the smallest dilation.
pub fn dilations(length: usize, features: usize, max_dilations: usize) -> Vec<(usize, usize)> {
    let per_kernel = features / KERNELS;
    let points = per_kernel.min(max_dilations).max(1);
    let multiplier = per_kernel as f64 / points as f64;
    let max_exponent = ((length.max(MIN_STEPS) - 1) as f64 / (TAPS - 1) as f64).log2();
    let mut counted: Vec<(usize, usize)> = Vec::new();
    for i in 0..points {
        let exponent = if i + 1 == points && points > 1 {
            max_exponent
        } else if points > 1 {
            i as f64 * (max_exponent / (points - 1) as f64)
        } else {
            0.0
        };
        let d = 2f64.powf(exponent) as usize;
        match counted.last_mut() {
            Some((last, n)) if *last == d => *n += 1,
            _ => counted.push((d, 1)),
        }
    }
    for (_, n) in counted.iter_mut() {
        *n = (*n as f64 * multiplier) as usize;
    }
    let mut remainder = per_kernel - counted.iter().map(|(_, n)| n).sum::<usize>();
    let mut i = 0;
    while remainder > 0 {
        counted[i].1 += 1;
        remainder -= 1;
        i = (i + 1) % counted.len();
    }
    counted
}

/// The low-discrepancy quantiles sktime assigns to the features in order: `(i·φ) mod 1`.
fn quantile_levels(n: usize) -> Vec<f64> {
    let phi = (5f64.sqrt() + 1.0) / 2.0;
    (1..=n).map(|i| (i as f64 * phi) % 1.0).collect()
}

/// The `q` quantile of `sorted` with linear interpolation (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

/// One (dilation, kernel) pair: its channels and the range of features (biases) it feeds.
/// Its convolution at step `t` is `Σ_c Σ_j w_j · x_c[t + (j − 4)·dilation]` over its channels,
/// zeros outside the sequence, `w_j` 2 at its three taps and −1 elsewhere.
#[derive(Clone, Debug)]
pub struct Combination {
    /// The spacing of the nine taps.
    pub dilation: usize,
    /// The taps weighed 2.
    pub taps: [usize; 3],
    /// The input channels summed.
    pub channels: Vec<usize>,
    /// The features (biases) it feeds, consecutive; combinations come dilation by dilation.
    pub features: std::ops::Range<usize>,
}

/// The MiniRocket transform: `[batch, time, channels]` in, `[batch, features]` out.
#[derive(Clone)]
pub struct MiniRocket<T> {
    input: Shape,
    combinations: Vec<Combination>,
    largest_dilation: usize,
    biases: Param<T>,
    pooling: Pooling,
}

impl<T: Float> MiniRocket<T> {
    /// The layer with its channels drawn from `options.seed` and biases at zero until
    /// [`Layer::adapt`] sets them from data.
    pub fn new(input: Shape, options: &MiniRocketOptions) -> Self {
        let channels = input.features;
        let spread = dilations(options.length, options.biases(), options.max_dilations);
        let mut rng = Rng::new(options.seed);
        let most = channels.min(TAPS);
        let exponent = ((most + 1) as f64).log2();
        let mut drawn = Vec::with_capacity(spread.len() * KERNELS);
        for _ in 0..spread.len() * KERNELS {
            let count = (2f64.powf(rng.uniform_range(0.0, exponent)) as usize).clamp(1, most);
            let mut pool: Vec<usize> = (0..channels).collect();
            rng.shuffle(&mut pool);
            pool.truncate(count);
            drawn.push(pool);
        }
        let mut layer = Self::assemble(input, &spread, drawn);
        layer.pooling = options.pooling;
        layer
    }

    /// A layer from explicit parameters, e.g. those of a fitted sktime transform:
    /// `dilations` lists each dilation with the features each of its 84 kernels gets (sktime's
    /// `dilations` and `num_features_per_dilation`), `channels` the channels of every
    /// (dilation, kernel) combination, dilation by dilation and in each the 84 kernels in
    /// `itertools.combinations(range(9), 3)` order (sktime's `channel_indices` cut by
    /// `num_channels_per_combination`), and `biases` every feature's bias in the same order.
    /// The error says which size or index is wrong.
    pub fn with_parameters(
        input: Shape,
        dilations: &[(usize, usize)],
        channels: Vec<Vec<usize>>,
        biases: Vec<T>,
    ) -> Result<Self, String> {
        if dilations.is_empty() {
            return Err("minirocket needs at least one dilation".into());
        }
        if let Some(&(d, _)) = dilations.iter().find(|(d, _)| *d == 0) {
            return Err(format!("minirocket dilations must be at least 1, got {d}"));
        }
        if channels.len() != KERNELS * dilations.len() {
            return Err(format!(
                "minirocket with {} dilations needs {} channel combinations (84 per dilation), got {}",
                dilations.len(),
                KERNELS * dilations.len(),
                channels.len()
            ));
        }
        for (i, combination) in channels.iter().enumerate() {
            if combination.is_empty() {
                return Err(format!("minirocket channel combination {i} is empty"));
            }
            if let Some(&c) = combination.iter().find(|&&c| c >= input.features) {
                return Err(format!(
                    "minirocket channel combination {i} names channel {c} of an input with {} channels",
                    input.features
                ));
            }
        }
        let features = KERNELS * dilations.iter().map(|(_, n)| n).sum::<usize>();
        if biases.len() != features {
            return Err(format!(
                "minirocket with these dilations gives {features} features (84 × the features per \
                 dilation), but got {} biases",
                biases.len()
            ));
        }
        let mut layer = Self::assemble(input, dilations, channels);
        layer.biases.value = biases;
        Ok(layer)
    }

    /// The layer of these dilations and channel combinations (in [`Self::with_parameters`]'s
    /// order), its biases at zero.
    fn assemble(input: Shape, dilations: &[(usize, usize)], channels: Vec<Vec<usize>>) -> Self {
        let mut combinations = Vec::with_capacity(channels.len());
        let mut channels = channels.into_iter();
        let mut next_feature = 0;
        for &(dilation, per_kernel) in dilations {
            for (taps, channels) in kernel_taps().into_iter().zip(channels.by_ref()) {
                combinations.push(Combination {
                    dilation,
                    taps,
                    channels,
                    features: next_feature..next_feature + per_kernel,
                });
                next_feature += per_kernel;
            }
        }
        let largest_dilation = dilations.iter().map(|(d, _)| *d).max().unwrap_or(1);
        MiniRocket {
            input,
            combinations,
            largest_dilation,
            biases: Param::buffer("biases", &[next_feature], vec![T::ZERO; next_feature]),
            pooling: Pooling::Ppv,
        }
    }

    /// The (dilation, kernel) pairs in feature order (what an exporter writes as convolutions).
    pub fn combinations(&self) -> &[Combination] {
        &self.combinations
    }

    /// The statistics each (convolution, bias) pair gives.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Sequence `b` of `x` laid out channel by channel, each channel with `4·largest dilation`
    /// zeros on both sides (so every shifted read is in bounds) and at least [`MIN_STEPS`] steps.
    fn padded_channels(&self, x: &Seq<T>, b: usize) -> (Vec<T>, usize, usize) {
        let steps = x.lengths[b].max(MIN_STEPS);
        let margin = (TAPS / 2) * self.largest_dilation;
        let row = steps + 2 * margin;
        let mut padded = vec![T::ZERO; x.features * row];
        for t in 0..x.lengths[b] {
            for (c, &v) in x.step(b, t).iter().enumerate() {
                padded[c * row + margin + t] = v;
            }
        }
        (padded, steps, row)
    }

    /// The convolution of one padded sequence by every combination whose index is `wanted`,
    /// handed to `each` with the combination (whole-sequence outputs, `steps` values).
    #[inline(always)]
    fn convolve(
        &self,
        padded: &[T],
        steps: usize,
        row: usize,
        wanted: impl Fn(usize) -> bool,
        mut each: impl FnMut(&Combination, &[T]),
    ) {
        let margin = (TAPS / 2) * self.largest_dilation;
        let channels = padded.len() / row;
        let shifted = |c: usize, tap: usize, d: usize| {
            let start = margin + tap * d - (TAPS / 2) * d;
            &padded[c * row + start..c * row + start + steps]
        };
        let mut window_sums = vec![T::ZERO; channels * steps];
        let mut out = vec![T::ZERO; steps];
        let mut dilation = 0;
        for (index, combination) in self.combinations.iter().enumerate() {
            if !wanted(index) {
                continue;
            }
            let d = combination.dilation;
            if d != dilation {
                // The sum over all nine taps, shared by the 84 kernels of a dilation: each
                // kernel is that sum times −1 plus 3 times its three chosen taps.
                dilation = d;
                window_sums.iter_mut().for_each(|v| *v = T::ZERO);
                for c in 0..channels {
                    let sums = &mut window_sums[c * steps..(c + 1) * steps];
                    for tap in 0..TAPS {
                        sums.iter_mut().zip(shifted(c, tap, d)).for_each(|(s, &v)| *s += v);
                    }
                }
            }
            out.iter_mut().for_each(|v| *v = T::ZERO);
            let three = T::from_f64(3.0);
            let [a, b, c3] = combination.taps;
            for &c in &combination.channels {
                let sums = &window_sums[c * steps..(c + 1) * steps];
                let (xa, xb, xc) = (shifted(c, a, d), shifted(c, b, d), shifted(c, c3, d));
                for t in 0..steps {
                    out[t] += three * (xa[t] + xb[t] + xc[t]) - sums[t];
                }
            }
            each(combination, &out);
        }
    }

    /// The features of sequence `b` of `x` written into `row`.
    #[inline(always)]
    fn features_of(&self, x: &Seq<T>, b: usize, row: &mut [T]) {
        let (padded, steps, width) = self.padded_channels(x, b);
        let scale = T::from_f64(1.0 / steps as f64);
        let biases = &self.biases.value;
        let block = biases.len();
        self.convolve(
            &padded,
            steps,
            width,
            |_| true,
            #[inline(always)]
            |combination, out| {
                let features = combination.features.clone();
                if self.pooling == Pooling::Ppv {
                    for f in features {
                        let bias = biases[f];
                        let above = out.iter().fold(0u32, |n, &v| n + u32::from(v > bias));
                        row[f] = T::from_f64(above as f64) * scale;
                    }
                    return;
                }
                for (start, [above, excess, positions, longest]) in above_biases(out, &biases[features.clone()]) {
                    let f = features.start + start;
                    let share = |n: f64| T::from_f64(n / steps as f64);
                    row[f] = share(above);
                    row[block + f] = T::from_f64(if above > 0.0 { excess / above } else { 0.0 });
                    row[2 * block + f] = if above > 0.0 {
                        share(positions / above)
                    } else {
                        T::from_f64(-1.0)
                    };
                    row[3 * block + f] = share(longest);
                }
            },
        );
    }
}

/// Biases compared with each step at once in [`above_biases`].
const LANES: usize = 8;

/// MultiRocket's statistics of the steps of `out` above each of `biases`: how many, the sum of
/// their excess over the bias, the sum of their positions, and the longest run of them, as
/// `(index of the bias, [count, excess, positions, longest])`. One pass over the steps updates
/// the statistics of up to eight biases side by side, branch-free, so that they vectorise across
/// the biases (the run length is a dependency from step to step, which a loop over the steps
/// of one bias could not vectorise).
#[inline(always)]
fn above_biases<T: Float>(out: &[T], biases: &[T]) -> Vec<(usize, [f64; 4])> {
    let mut stats = Vec::with_capacity(biases.len());
    for (group, chunk) in biases.chunks(LANES).enumerate() {
        // Unused lanes compare with +∞ and stay at zero.
        let mut bias = [T::from_f64(f64::INFINITY); LANES];
        bias[..chunk.len()].copy_from_slice(chunk);
        let (mut count, mut excess, mut positions) = ([0u32; LANES], [T::ZERO; LANES], [T::ZERO; LANES]);
        let (mut run, mut longest) = ([0u32; LANES], [0u32; LANES]);
        // Positions are summed as floats: exact in f32 up to 2^24, and never overflowing.
        for (t, &v) in out.iter().enumerate() {
            let step = T::from_f64(t as f64);
            for j in 0..LANES {
                let above = v > bias[j];
                count[j] += u32::from(above);
                excess[j] += if above { v - bias[j] } else { T::ZERO };
                positions[j] += if above { step } else { T::ZERO };
                run[j] = if above { run[j] + 1 } else { 0 };
                longest[j] = longest[j].max(run[j]);
            }
        }
        for j in 0..chunk.len() {
            let figures = [
                count[j] as f64,
                excess[j].to_f64(),
                positions[j].to_f64(),
                longest[j] as f64,
            ];
            stats.push((group * LANES + j, figures));
        }
    }
    stats
}

impl<T: Float> Layer<T> for MiniRocket<T> {
    fn kind(&self) -> &'static str {
        "minirocket"
    }
    fn output_needs_full_precision(&self) -> bool {
        // PLAID's test accuracy fell from 0.96 to 0.15 (PPV) and 0.16 (multi) at int8.
        true
    }
    fn output_shape(&self) -> Shape {
        Shape::new(self.biases.len() * self.pooling.statistics(), false)
    }
    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let f = self.biases.len() * self.pooling.statistics();
        let mut data = vec![T::ZERO; x.batch * f];
        dispatch(
            #[inline(always)]
            || {
                for (b, row) in data.chunks_exact_mut(f).enumerate() {
                    if x.lengths[b] > 0 {
                        self.features_of(&x, b, row);
                    }
                }
            },
        );
        let y = Seq {
            data,
            batch: x.batch,
            time: 1,
            features: f,
            lengths: vec![1; x.batch],
            sequential: false,
        };
        let tape = Tape::when(ctx.training, || no_input_grad(&x, x.features));
        (y, tape)
    }
    fn backward(&mut self, tape: Tape, _dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let like: Seq<T> = tape.take("minirocket");
        if input_grad {
            // A step function of its input: the gradient is zero wherever it exists.
            Seq::zeros_like(&like, like.features)
        } else {
            like
        }
    }
    fn params(&self) -> Vec<&Param<T>> {
        vec![&self.biases]
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        vec![&mut self.biases]
    }
    fn needs_adapt(&self) -> bool {
        true
    }
    fn adapt(&mut self, x: &Seq<T>, rng: &mut Rng) -> Result<(), String> {
        let usable: Vec<usize> = (0..x.batch).filter(|&b| x.lengths[b] > 0).collect();
        if usable.is_empty() {
            return Err("minirocket needs at least one sequence with steps to set its biases".into());
        }
        // One random sequence per combination, drawn up front so the draws do not depend on
        // the order the convolutions are computed in.
        let picks: Vec<usize> = self
            .combinations
            .iter()
            .map(|_| usable[rng.below(usable.len())])
            .collect();
        let levels = quantile_levels(self.biases.len());
        let mut biases = vec![T::ZERO; self.biases.len()];
        let mut by_sequence: Vec<(usize, usize)> = picks.iter().copied().enumerate().map(|(i, b)| (b, i)).collect();
        by_sequence.sort_unstable();
        for group in by_sequence.chunk_by(|a, b| a.0 == b.0) {
            let b = group[0].0;
            let wanted: Vec<usize> = group.iter().map(|&(_, i)| i).collect();
            let (padded, steps, width) = self.padded_channels(x, b);
            let mut sorted = Vec::with_capacity(steps);
            // Only the convolutions whose biases come from this sequence.
            let picked = |index: usize| wanted.binary_search(&index).is_ok();
            self.convolve(&padded, steps, width, picked, |combination, out| {
                sorted.clear();
                sorted.extend(out.iter().map(|v| v.to_f64()));
                sorted.sort_unstable_by(f64::total_cmp);
                for f in combination.features.clone() {
                    biases[f] = T::from_f64(quantile(&sorted, levels[f]));
                }
            });
        }
        self.biases.value = biases;
        Ok(())
    }
    fn forward_flops_per_step(&self) -> usize {
        // Per step: the nine-tap sums, four reads per kernel and channel, one comparison (and
        // the other statistics' updates) per bias.
        let reads: usize = self.combinations.iter().map(|c| 4 * c.channels.len()).sum();
        let dilations = self.combinations.len() / KERNELS;
        dilations * TAPS * self.input.features + reads + self.biases.len() * self.pooling.statistics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::random_seq;

    fn options(length: usize, features: usize) -> MiniRocketOptions {
        MiniRocketOptions {
            features,
            max_dilations: 32,
            length,
            seed: 3,
            pooling: Pooling::Ppv,
        }
    }

    /// The spreads sktime's `_fit_dilations_multi_var` gives (printed from it) for the three
    /// archive sets' longest sequences (29, 361 and 1,344 steps) and 10,000 features.
    #[test]
    fn dilations_match_sktime() {
        assert_eq!(dilations(29, 9996, 32), vec![(1, 67), (2, 38), (3, 14)]);
        #[rustfmt::skip]
        let expected = [
            (1, 23), (2, 12), (3, 12), (4, 8), (5, 4), (6, 4), (7, 4), (8, 4), (9, 4), (10, 4), (11, 4),
            (13, 4), (14, 4), (16, 4), (19, 3), (21, 3), (24, 3), (27, 3), (31, 3), (35, 3), (39, 3), (45, 3),
        ];
        assert_eq!(dilations(361, 9996, 32), expected);
        let long = dilations(1344, 9996, 32);
        assert_eq!(long.len(), 26);
        assert_eq!(long.iter().map(|(_, n)| n).sum::<usize>(), 119);
        assert_eq!((long[0], long[25]), ((1, 19), (167, 3)));
        assert_eq!(dilations(5, 84, 32), vec![(1, 1)]);
    }

    /// Every kernel by the definition (see `reference_convolution`): the share of steps above
    /// each bias, and with `pooling: multi` MultiRocket's three other statistics.
    #[test]
    fn features_match_the_definition() {
        for pooling in [Pooling::Ppv, Pooling::Multi] {
            let x = random_seq(2, 40, 3, &[40, 23], 7);
            let mut layer = MiniRocket::<f64>::new(
                x.shape(),
                &MiniRocketOptions {
                    pooling,
                    ..options(40, 168)
                },
            );
            layer.adapt(&x, &mut Rng::new(1)).unwrap();
            let mut rng = Rng::new(0);
            let mut ctx = Ctx::new(false, &mut rng);
            let (y, _) = layer.forward(x.clone(), &mut ctx);
            let width = 168 * pooling.statistics();
            assert_eq!(y.features, width);
            for b in 0..2 {
                let steps = x.lengths[b];
                for combination in &layer.combinations {
                    let conv = reference_convolution(&x, b, combination);
                    for f in combination.features.clone() {
                        let bias = layer.biases.value[f];
                        let above: Vec<usize> = (0..steps).filter(|&t| conv[t] > bias).collect();
                        let n = above.len() as f64;
                        let mut expected = vec![n / steps as f64];
                        if pooling == Pooling::Multi {
                            let mean_excess = above.iter().map(|&t| conv[t] - bias).sum::<f64>() / n.max(1.0);
                            let mean_position = if above.is_empty() {
                                -1.0
                            } else {
                                above.iter().sum::<usize>() as f64 / n / steps as f64
                            };
                            let longest = (0..steps)
                                .map(|t0| (t0..steps).take_while(|&t| conv[t] > bias).count())
                                .max()
                                .unwrap_or(0);
                            expected.extend([mean_excess, mean_position, longest as f64 / steps as f64]);
                        }
                        for (k, e) in expected.iter().enumerate() {
                            let got = y.data[b * width + k * 168 + f];
                            assert!(
                                (got - e).abs() < 1e-9,
                                "{pooling:?} statistic {k} of feature {f}, sequence {b}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// `Σ_j w_j · x[t + (j − 4)·d]` over the combination's channels, zeros outside the
    /// sequence, w = −1 except 2 at its three taps.
    fn reference_convolution(x: &Seq<f64>, b: usize, combination: &Combination) -> Vec<f64> {
        let (steps, d) = (x.lengths[b] as isize, combination.dilation as isize);
        (0..steps)
            .map(|t| {
                (0..TAPS)
                    .map(|j| {
                        let w = if combination.taps.contains(&j) { 2.0 } else { -1.0 };
                        let at = t + (j as isize - 4) * d;
                        if (0..steps).contains(&at) {
                            combination
                                .channels
                                .iter()
                                .map(|&c| w * x.step(b, at as usize)[c])
                                .sum()
                        } else {
                            0.0
                        }
                    })
                    .sum()
            })
            .collect()
    }

    /// Biases are quantiles of real convolutions, so features spread over (0, 1); a padded
    /// batch gives what each sequence gives alone; the same seed gives the same channels.
    #[test]
    fn padded_batch_matches_one_at_a_time() {
        let x = random_seq(3, 30, 2, &[30, 12, 5], 4);
        let mut layer = MiniRocket::<f64>::new(x.shape(), &options(30, 336));
        layer.adapt(&x, &mut Rng::new(2)).unwrap();
        let mut rng = Rng::new(0);
        let mut ctx = Ctx::new(false, &mut rng);
        let (all, _) = layer.forward(x.clone(), &mut ctx);
        for b in 0..3 {
            let one = x.slice_batch(b..b + 1);
            let one = Seq {
                time: one.lengths[0],
                data: one.data[..one.lengths[0] * 2].to_vec(),
                ..one
            };
            let (alone, _) = layer.forward(one, &mut ctx);
            assert_eq!(alone.data, all.data[b * 336..(b + 1) * 336]);
        }
        let mean = all.data.iter().sum::<f64>() / all.data.len() as f64;
        assert!((0.2..0.8).contains(&mean), "mean feature {mean}");
        let again = MiniRocket::<f64>::new(x.shape(), &options(30, 336));
        assert!(again
            .combinations
            .iter()
            .zip(&layer.combinations)
            .all(|(a, b)| a.channels == b.channels));
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let sorted = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile(&sorted, 0.5), 3.0);
        assert_eq!(quantile(&sorted, 1.0), 8.0);
        assert!((quantile(&sorted, 0.9) - 6.8).abs() < 1e-12);
        assert!((quantile_levels(2)[1] - 0.2360679774997898).abs() < 1e-12);
    }

    /// In a model: `adapt` sets the biases of a minirocket reading the model's input, the
    /// checkpoint holds them as the buffer `layers.0.biases`, and one placed after another
    /// layer is refused by name.
    #[test]
    fn model_adapts_a_first_minirocket_and_refuses_a_later_one() {
        use crate::{Model, ModelConfig};
        let stack =
            |layers: &str| ModelConfig::from_json(&format!(r#"{{"input_size": 2, "layers": [{layers}]}}"#)).unwrap();
        let x = random_seq(4, 20, 2, &[20, 15, 9, 4], 9);
        let mut model = Model::<f64>::new(
            stack(r#"{"type": "minirocket", "length": 20, "features": 168}, {"type": "dense", "units": 3}"#),
            1,
        )
        .unwrap();
        assert!(model.needs_adapt());
        model.adapt(std::slice::from_ref(&x), 5).unwrap();
        let biases = model
            .named_params()
            .into_iter()
            .find(|(n, _)| n == "layers.0.biases")
            .unwrap()
            .1;
        assert!(!biases.trainable && biases.value.iter().any(|&b| b != 0.0));
        let mut later = Model::<f64>::new(
            stack(
                r#"{"type": "dense", "units": 2}, {"type": "minirocket", "length": 20}, {"type": "dense", "units": 3}"#,
            ),
            1,
        )
        .unwrap();
        let e = later.adapt(&[x], 5).unwrap_err().to_string();
        assert!(e.contains("layers.1 (minirocket) sets itself from the data"), "{e}");
    }
}
