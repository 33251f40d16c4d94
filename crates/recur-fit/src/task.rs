//! What a model learns from a [`SequenceSet`]: the task its targets imply, the input and target
//! scaling measured on the training data (kept in the model's metadata), and the encoded
//! examples batches are cut from.

use crate::augment::Augment;
use crate::settings::{InputEncoding, LogInputs, SequenceNorm, Settings};
pub use crate::supervision::Task;
use recur_core::{Rng, Seq};
use recur_data::sequences::{InputView, SequenceSet, SequenceTargets};
use recur_nn::{ModelConfig, NnError, Result};
use recur_train::{Batch, Targets};
use serde::{Deserialize, Serialize};

/// The metadata key under which a fitted model keeps its [`FitMeta`].
pub const META_KEY: &str = "fit";

/// Per-channel shift and scale: `(x - mean) / std`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// Standard deviation per channel (never below a small floor).
    pub std: Vec<f32>,
}

impl Scaling {
    /// Mean and deviation of each of `width` interleaved channels, ignoring NaN.
    pub fn measure<'a>(rows: impl Iterator<Item = &'a [f32]>, width: usize) -> Scaling {
        Scaling::from_sums(&channel_sums(rows, width), width)
    }

    /// The scaling from [`channel_sums`] (of one data set, or added over several).
    pub fn from_sums(sums: &[f64], width: usize) -> Scaling {
        let (n, rest) = sums.split_at(width);
        let (sum, sq) = rest.split_at(width);
        let mean: Vec<f64> = (0..width).map(|c| sum[c] / n[c].max(1.0)).collect();
        Scaling {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: (0..width)
                .map(|c| {
                    let var = (sq[c] / n[c].max(1.0) - mean[c] * mean[c]).max(0.0);
                    // A constant channel is only shifted, not blown up.
                    (var.sqrt() as f32).max(1e-6)
                })
                .collect(),
        }
    }

    /// Measures the scaling of data split across the ranks of a job: `sum` adds
    /// [`channel_sums`] over them in place.
    fn measure_across<'a>(
        rows: impl Iterator<Item = &'a [f32]>,
        width: usize,
        sum: &mut dyn FnMut(&mut [f64]),
    ) -> Scaling {
        let mut sums = channel_sums(rows, width);
        sum(&mut sums);
        Scaling::from_sums(&sums, width)
    }

    /// The identity for `width` channels.
    pub fn identity(width: usize) -> Scaling {
        Scaling {
            mean: vec![0.0; width],
            std: vec![1.0; width],
        }
    }

    /// Standardises one value of channel `c`.
    pub fn apply(&self, v: f32, c: usize) -> f32 {
        (v - self.mean[c]) / self.std[c]
    }

    /// Undoes [`Scaling::apply`].
    pub fn invert(&self, v: f32, c: usize) -> f32 {
        v * self.std[c] + self.mean[c]
    }
}

/// Per-channel count, sum and sum of squares (`[n…, sum…, sq…]`, `3 × width` numbers) of the
/// finite values of `width` interleaved channels; the sums of disjoint data add up.
pub fn channel_sums<'a>(rows: impl Iterator<Item = &'a [f32]>, width: usize) -> Vec<f64> {
    let mut sums = vec![0f64; 3 * width];
    for row in rows {
        for (i, &v) in row.iter().enumerate() {
            if v.is_finite() {
                let c = i % width;
                sums[c] += 1.0;
                sums[width + c] += v as f64;
                sums[2 * width + c] += v as f64 * v as f64;
            }
        }
    }
    sums
}

/// Everything a fitted model needs to read new data the way it was trained, stored in its
/// config's metadata under [`META_KEY`]. Class names live in the config's `classes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitMeta {
    /// The task.
    pub task: Task,
    /// How the model's first (for most models, only) input is read; its fields sit at the top
    /// level, where every model written before several inputs keeps them.
    #[serde(flatten)]
    pub first: InputMeta,
    /// Target scaling (regression; empty for classes).
    pub target: Scaling,
    /// The settings the model was trained with.
    pub training: Settings,
    /// How each further input of a model with several is read, in its config's `inputs` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_inputs: Vec<InputMeta>,
}

/// How one model input is read: its channels, their scaling and the per-sequence
/// standardisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputMeta {
    /// Channels per step of the raw data (values per example, for vectors).
    pub dims: usize,
    /// Input scaling from the training set (the identity when standardisation is off).
    pub input: Scaling,
    /// Per-sequence standardisation of the inputs (`off` for vectors).
    pub sequence_norm: SequenceNorm,
    /// Inputs go through `sign(x)·ln(1 + |x|)` before anything else.
    #[serde(default)]
    pub log_inputs: bool,
    /// Sequences, or one vector per example (a static input).
    #[serde(default = "sequences", skip_serializing_if = "is_sequential")]
    pub sequential: bool,
}

/// [`InputMeta::sequential`]'s value in models that do not write it.
fn sequences() -> bool {
    true
}

/// Leaves [`InputMeta::sequential`] out where it has its usual value, so one-input models'
/// metadata reads as before.
fn is_sequential(sequential: &bool) -> bool {
    *sequential
}

impl InputMeta {
    /// Measures one input's scaling on the training set's values; `sum` adds numbers over the
    /// ranks in place. Vectors are not standardised within themselves.
    fn measure_across(input: &InputView, encoding: InputEncoding, sum: &mut dyn FnMut(&mut [f64])) -> InputMeta {
        let log_inputs = match encoding.log_inputs {
            LogInputs::On => true,
            LogInputs::Off => false,
            LogInputs::Auto => {
                let mut vote = [f64::from(u8::from(magnitudes_vary(input)))];
                sum(&mut vote);
                vote[0] > 0.0
            }
        };
        let scaling = if encoding.standardize {
            let logged: Vec<Vec<f32>>;
            let rows: Vec<&[f32]> = if log_inputs {
                logged = input
                    .series
                    .iter()
                    .map(|s| s.iter().map(|&v| signed_log(v)).collect())
                    .collect();
                logged.iter().map(Vec::as_slice).collect()
            } else {
                input.series.iter().map(Vec::as_slice).collect()
            };
            Scaling::measure_across(rows.into_iter(), input.dims.max(1), sum)
        } else {
            Scaling::identity(input.dims)
        };
        InputMeta {
            dims: input.dims,
            input: scaling,
            sequence_norm: match input.sequential {
                true => encoding.sequence_norm,
                false => SequenceNorm::Off,
            },
            log_inputs,
            sequential: input.sequential,
        }
    }

    /// Input features per step the model sees.
    pub fn input_width(&self) -> usize {
        self.sequence_norm.width(self.dims)
    }

    /// One example as model input, `[steps, input_width]` (a vector: one step): the channels
    /// standardised over the training set, and/or within the sequence (see [`SequenceNorm`]).
    /// Missing values become 0 (the mean) after standardisation.
    pub fn encode(&self, series: &[f32]) -> Vec<f32> {
        let logged: Vec<f32>;
        let series = if self.log_inputs {
            logged = series.iter().map(|&v| signed_log(v)).collect();
            &logged
        } else {
            series
        };
        let d = self.dims.max(1);
        let steps = series.len() / d;
        let width = self.input_width();
        let mut out = vec![0f32; steps * width];
        let own = Scaling::measure(series.chunks(d), d);
        // Sequences flatter than 1% of the data's spread are not blown up to noise.
        let own_std: Vec<f32> = (0..d).map(|c| own.std[c].max(0.01 * self.input.std[c])).collect();
        for t in 0..steps {
            let row = &mut out[t * width..(t + 1) * width];
            for c in 0..d {
                let v = series[t * d + c];
                let z = if v.is_finite() {
                    (v - own.mean[c]) / own_std[c]
                } else {
                    0.0
                };
                match self.sequence_norm {
                    SequenceNorm::Off | SequenceNorm::Append => {
                        row[c] = if v.is_finite() { self.input.apply(v, c) } else { 0.0 };
                        if self.sequence_norm == SequenceNorm::Append {
                            row[d + c] = z;
                        }
                    }
                    SequenceNorm::Only => {
                        row[c] = z;
                        row[d + c] = self.input.apply(own.mean[c], c);
                        row[2 * d + c] = (own_std[c] / self.input.std[c]).ln();
                    }
                }
            }
        }
        out
    }

    /// How the model reads this input, for messages: `sequences of 3 channels` or `one vector
    /// of 4 values per example`.
    pub fn describe(&self) -> String {
        match self.sequential {
            true => format!("sequences of {} channels", self.dims),
            false => format!("one vector of {} values per example", self.dims),
        }
    }

    /// The `.npy` array that holds this input: `[n, time, 3]` or `[n, 4]`.
    pub fn expected_array(&self) -> String {
        match self.sequential {
            true => format!("[n, time, {}]", self.dims),
            false => format!("[n, {}]", self.dims),
        }
    }
}

impl FitMeta {
    /// Measures the scalings on the training set.
    pub fn measure(train: &SequenceSet, settings: &Settings) -> FitMeta {
        FitMeta::measure_across(train, settings, &mut |_| {})
    }

    /// Measures the scalings on a training set of which `train` is one rank's part: `sum` adds
    /// numbers over the ranks in place. The counts behind the means and deviations are added
    /// (the scalings are those of the whole set), and `log_inputs: auto` turns on if any part's
    /// magnitudes vary.
    pub fn measure_across(train: &SequenceSet, settings: &Settings, sum: &mut dyn FnMut(&mut [f64])) -> FitMeta {
        let task = Task::of(&train.targets);
        // Settings left unset take the defaults of a model other than the default MiniRocket
        // (`fit_sequences` resolves them for its model first).
        let encoding = settings.input_encoding(false);
        let inputs = train.inputs();
        let first = InputMeta::measure_across(&inputs[0], encoding, sum);
        let target = match &train.targets {
            SequenceTargets::Values { width, values } => {
                Scaling::measure_across(values.chunks(*width.max(&1)), (*width).max(1), sum)
            }
            SequenceTargets::StepValues { width, values } => {
                Scaling::measure_across(values.iter().map(Vec::as_slice), (*width).max(1), sum)
            }
            _ => Scaling::default(),
        };
        let more_inputs = inputs[1..]
            .iter()
            .map(|input| InputMeta::measure_across(input, encoding, sum))
            .collect();
        FitMeta {
            task,
            first,
            target,
            training: settings.clone(),
            more_inputs,
        }
    }

    /// How each input is read, in the model's order.
    pub fn inputs(&self) -> impl Iterator<Item = &InputMeta> {
        std::iter::once(&self.first).chain(&self.more_inputs)
    }

    /// Stores this in `config` (with class names).
    pub fn store(&self, config: &mut ModelConfig, classes: &[String]) -> Result<()> {
        config.classes = classes.to_vec();
        let v = serde_json::to_value(self).map_err(|e| NnError::Config(e.to_string()))?;
        config.metadata.insert(META_KEY.into(), v);
        Ok(())
    }

    /// The metadata of a model trained by `recur fit`, if it is one.
    pub fn of(config: &ModelConfig) -> Option<Result<FitMeta>> {
        config.metadata.get(META_KEY).map(|v| {
            serde_json::from_value(v.clone())
                .map_err(|e| NnError::Config(format!("the model's `{META_KEY}` metadata is unreadable: {e}")))
        })
    }
}

/// True when, in some channel, the 90th percentile of the sequences' standard deviations is
/// over 10 times their median: sequences whose sizes differ by orders of magnitude (appliance
/// currents, counts), whose shapes a signed log makes comparable.
pub fn magnitudes_vary(input: &InputView) -> bool {
    let d = input.dims.max(1);
    let spreads: Vec<Scaling> = input.series.iter().map(|s| Scaling::measure(s.chunks(d), d)).collect();
    (0..d).any(|c| {
        let mut v: Vec<f32> = spreads.iter().map(|s| s.std[c]).collect();
        v.sort_by(f32::total_cmp);
        let n = v.len();
        n >= 10 && v[n * 9 / 10] > 10.0 * v[n / 2]
    })
}

/// `sign(x)·ln(1 + |x|)`: compresses large magnitudes, keeps sign and small values.
pub fn signed_log(x: f32) -> f32 {
    x.signum() * x.abs().ln_1p()
}

/// Targets of one sequence, scaled the way the model is trained on them.
#[derive(Clone, Debug)]
pub enum Target {
    /// A class.
    Class(usize),
    /// Standardised values.
    Values(Vec<f32>),
    /// A class per step.
    StepClasses(Vec<usize>),
    /// Standardised values per step, `[steps, width]`.
    StepValues(Vec<f32>),
    /// Unknown (prediction only).
    None,
}

/// Encoded examples ready for batching.
#[derive(Clone, Debug)]
pub struct Examples {
    /// Each model input's encoded values, in the model's order.
    pub inputs: Vec<EncodedInput>,
    /// Positions of each example: the steps of its first sequence input (which its per-step
    /// targets have too), or, when every input is a vector, of its per-step targets (1 for a
    /// target per example).
    pub lengths: Vec<usize>,
    /// Each example's target.
    pub targets: Vec<Target>,
    /// Values per target position (regression; 0 for classes).
    pub value_width: usize,
}

/// One model input of every example, encoded.
#[derive(Clone, Debug)]
pub struct EncodedInput {
    /// Input features per step.
    pub width: usize,
    /// Sequences, or one vector per example.
    pub sequential: bool,
    /// Each example encoded, `[steps, width]` (a vector: `[width]`).
    pub values: Vec<Vec<f32>>,
}

impl EncodedInput {
    /// Steps of example i (1 for a vector).
    fn steps(&self, i: usize) -> usize {
        self.values[i].len() / self.width.max(1)
    }

    /// The batch of the examples at `idx`, sequences padded to the longest; `distorted`
    /// replaces each example's values (and steps) when given.
    fn batch(&self, idx: &[usize], distorted: Option<&[(Vec<f32>, usize)]>) -> Result<Seq<f32>> {
        let w = self.width;
        let value = |b: usize, i: usize| distorted.map_or(&self.values[i][..], |d| &d[b].0[..]);
        let err = |e: recur_core::CoreError| NnError::Input(e.to_string());
        if !self.sequential {
            let data = idx
                .iter()
                .enumerate()
                .flat_map(|(b, &i)| value(b, i).iter().copied())
                .collect();
            return Seq::vectors(data, idx.len(), w).map_err(err);
        }
        let lengths: Vec<usize> = match distorted {
            Some(d) => d.iter().map(|(_, n)| *n).collect(),
            None => idx.iter().map(|&i| self.steps(i)).collect(),
        };
        let time = lengths.iter().copied().max().unwrap_or(0).max(1);
        let mut data = vec![0f32; idx.len() * time * w];
        for (b, &i) in idx.iter().enumerate() {
            let x = value(b, i);
            data[b * time * w..b * time * w + x.len()].copy_from_slice(x);
        }
        Seq::new(data, idx.len(), time, w, lengths).map_err(err)
    }
}

impl Examples {
    /// The examples of `set` at `indices`, encoded with `meta` (targets too, if `set` has
    /// targets of the model's kind; `labels` maps the set's class indices to the model's).
    pub fn new(set: &SequenceSet, meta: &FitMeta, indices: &[usize], labels: Option<&[usize]>) -> Examples {
        let map = |k: usize| labels.map_or(k, |m| m[k]);
        let target = |i: usize| -> Target {
            match &set.targets {
                SequenceTargets::Classes { labels, .. } => Target::Class(map(labels[i])),
                SequenceTargets::StepClasses { labels, .. } => {
                    Target::StepClasses(labels[i].iter().map(|&k| map(k)).collect())
                }
                SequenceTargets::Values { width, values } => Target::Values(
                    values[i * width..(i + 1) * width]
                        .iter()
                        .enumerate()
                        .map(|(c, &v)| meta.target.apply(v, c))
                        .collect(),
                ),
                SequenceTargets::StepValues { width, values } => Target::StepValues(
                    values[i]
                        .iter()
                        .enumerate()
                        .map(|(k, &v)| meta.target.apply(v, k % width))
                        .collect(),
                ),
            }
        };
        let inputs: Vec<EncodedInput> = set
            .inputs()
            .iter()
            .zip(meta.inputs())
            .map(|(input, m)| EncodedInput {
                width: m.input_width(),
                sequential: m.sequential,
                values: indices.iter().map(|&i| m.encode(&input.series[i])).collect(),
            })
            .collect();
        let value_width = match &set.targets {
            SequenceTargets::Values { width, .. } | SequenceTargets::StepValues { width, .. } => *width,
            _ => 0,
        };
        let positions = |i: usize| match &set.targets {
            SequenceTargets::StepClasses { labels, .. } => labels[i].len(),
            SequenceTargets::StepValues { width, values } => values[i].len() / (*width).max(1),
            _ => 1,
        };
        let lengths = match inputs.iter().find(|x| x.sequential) {
            Some(x) => (0..indices.len()).map(|k| x.steps(k)).collect(),
            None => indices.iter().map(|&i| positions(i)).collect(),
        };
        Examples {
            inputs,
            lengths,
            targets: indices.iter().map(|&i| target(i)).collect(),
            value_width,
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// True when the model has one input and it is a sequence: what augmentation distorts.
    pub fn one_sequence_input(&self) -> bool {
        matches!(&self.inputs[..], [x] if x.sequential)
    }

    /// The batch of the examples at `idx`, padded to the longest.
    pub fn batch(&self, idx: &[usize]) -> Result<Batch<f32>> {
        self.batch_with(idx, None)
    }

    /// [`Examples::batch`], each sequence distorted by `augment` (drawing from `rng`) when
    /// given (only for a model of one sequence input; see [`Examples::one_sequence_input`]).
    pub fn batch_with(&self, idx: &[usize], augment: Option<(&Augment, &mut Rng)>) -> Result<Batch<f32>> {
        let first = &self.inputs[0];
        let distorted: Option<Vec<(Vec<f32>, usize)>> = augment.map(|(a, rng)| {
            idx.iter()
                .map(|&i| a.apply(&first.values[i], self.lengths[i], first.width, rng))
                .collect()
        });
        let x = first.batch(idx, distorted.as_deref())?;
        let more_inputs = self.inputs[1..]
            .iter()
            .map(|input| input.batch(idx, None))
            .collect::<Result<Vec<_>>>()?;
        let time = match distorted {
            Some(d) => d.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1),
            None => idx.iter().map(|&i| self.lengths[i]).max().unwrap_or(0).max(1),
        };
        Ok(Batch {
            x,
            targets: self.batch_targets(idx, time),
            more_inputs,
        })
    }

    /// The targets of the examples at `idx`, per-step ones padded to `time` positions.
    fn batch_targets(&self, idx: &[usize], time: usize) -> Targets {
        match self.targets.first() {
            Some(Target::Class(_)) => Targets::Classes(
                idx.iter()
                    .map(|&i| match &self.targets[i] {
                        Target::Class(k) => *k,
                        _ => 0,
                    })
                    .collect(),
            ),
            Some(Target::Values(_)) => Targets::Values(
                idx.iter()
                    .flat_map(|&i| match &self.targets[i] {
                        Target::Values(v) => v.clone(),
                        _ => Vec::new(),
                    })
                    .collect(),
            ),
            Some(Target::StepClasses(_)) => {
                let mut c = vec![0usize; idx.len() * time];
                for (b, &i) in idx.iter().enumerate() {
                    if let Target::StepClasses(l) = &self.targets[i] {
                        c[b * time..b * time + l.len()].copy_from_slice(l);
                    }
                }
                Targets::Classes(c)
            }
            Some(Target::StepValues(_)) => {
                let width = self.value_width;
                let mut v = vec![0f32; idx.len() * time * width];
                for (b, &i) in idx.iter().enumerate() {
                    if let Target::StepValues(s) = &self.targets[i] {
                        v[b * time * width..b * time * width + s.len()].copy_from_slice(s);
                    }
                }
                Targets::Values(v)
            }
            Some(Target::None) | None => Targets::Values(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(series: Vec<Vec<f32>>) -> SequenceSet {
        let n = series.len();
        SequenceSet {
            dims: 1,
            series,
            targets: SequenceTargets::Classes {
                labels: (0..n).map(|i| i % 2).collect(),
                names: vec!["a".into(), "b".into()],
            },
            source: "mem".into(),
            sequential: true,
            more_inputs: Vec::new(),
        }
    }

    #[test]
    fn encode_standardises_and_zeroes_missing_values() {
        let train = set(vec![vec![1.0, 3.0], vec![f32::NAN, 1.0, 3.0]]);
        let settings = Settings {
            log_inputs: Some(LogInputs::Off),
            ..Settings::default()
        };
        let meta = FitMeta::measure(&train, &settings).first;
        assert_eq!((meta.input.mean[0], meta.input.std[0]), (2.0, 1.0));
        // Append: [standardised, standardised within the sequence] per step.
        assert_eq!(meta.encode(&[f32::NAN, 3.0, 1.0]), vec![0.0, 0.0, 1.0, 1.0, -1.0, -1.0]);
    }

    /// A one-sequence-input model's metadata keeps the keys models have always had (none
    /// for several inputs), and a static further input's reading is stored and read back.
    #[test]
    fn fit_meta_keeps_one_input_keys_and_stores_further_inputs() {
        let mut train = set(vec![vec![1.0, 3.0], vec![2.0, 5.0, 1.0]]);
        let meta = FitMeta::measure(&train, &Settings::default());
        let keys: Vec<String> = match serde_json::to_value(&meta).unwrap() {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let old = [
            "dims",
            "input",
            "log_inputs",
            "sequence_norm",
            "target",
            "task",
            "training",
        ];
        assert_eq!(keys, old);
        train.more_inputs.push(recur_data::sequences::InputSeries {
            dims: 2,
            series: vec![vec![1.0, 10.0], vec![3.0, 30.0]],
            sequential: false,
            source: "static".into(),
        });
        let meta = FitMeta::measure(&train, &Settings::default());
        let extra = &meta.more_inputs[0];
        assert_eq!((extra.sequential, extra.input_width()), (false, 2));
        assert_eq!(extra.encode(&[3.0, 30.0]), vec![1.0, 1.0]);
        let back: FitMeta = serde_json::from_value(serde_json::to_value(&meta).unwrap()).unwrap();
        assert_eq!(back, meta);
    }

    #[test]
    fn magnitudes_vary_picks_sequences_of_very_different_size() {
        let scaled = |k: usize| (0..8).map(|t| (t % 2) as f32 * 10f32.powi((k % 5) as i32)).collect();
        assert!(magnitudes_vary(&set((0..20).map(scaled).collect()).inputs()[0]));
        let alike = |k: usize| (0..8).map(|t| (t % 2) as f32 * (1.0 + k as f32 * 0.05)).collect();
        assert!(!magnitudes_vary(&set((0..20).map(alike).collect()).inputs()[0]));
        assert!((signed_log(-(std::f32::consts::E - 1.0)) + 1.0).abs() < 1e-6);
    }
}
