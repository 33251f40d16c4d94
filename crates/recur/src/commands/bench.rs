//! `recur bench`: training and inference throughput of the reference models, and the
//! machine's single-precision GEMM peak measured the same way, so results come as ratios.

use anyhow::{Context, Result};
use clap::Args;
use recur_core::lowp::{Format, PackedWeights};
use recur_core::parallel::{default_threads, run_on_workers};
use recur_core::{matmul, Rng, Seq, Transpose};
use recur_nn::{Model, ModelConfig, Precision};
use recur_train::{Loss, OptimizerConfig, Schedule, Targets, TrainConfig, Trainer};
use serde_json::json;
use std::io::Write;
use std::time::Instant;

/// Arguments of `recur bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Print one JSON line instead of a table.
    #[arg(long)]
    json: bool,
    /// Cores to use.
    #[arg(long, default_value_t = default_threads(), value_parser = super::whole::<usize>)]
    threads: usize,
    /// Seconds to time each measurement for.
    #[arg(long, default_value_t = 3.0, value_parser = super::positive)]
    seconds: f64,
    /// Sequences per batch.
    #[arg(long, default_value_t = 64, value_parser = super::whole::<usize>)]
    batch: usize,
    /// Steps per sequence.
    #[arg(long, default_value_t = 100, value_parser = super::whole::<usize>)]
    length: usize,
    /// Time only the sketch model's training step on one global batch and, under mpirun, the
    /// all-reduce of its gradients (every rank takes its share of the batch).
    #[arg(long)]
    scaling: bool,
    /// Timed training steps with --scaling (a fixed count: the ranks step together).
    #[arg(long, default_value_t = 30, value_parser = super::whole::<usize>)]
    steps: usize,
    /// Time only the frame model (a CNN over every 32×32 RGB frame feeding an LSTM): --batch
    /// clips of --length frames (`recur bench --frames --batch 16 --length 16`).
    #[arg(long, conflicts_with = "config")]
    frames: bool,
    /// Time only this model config (JSON; a classifier giving one vector per sequence, such as
    /// the video configs in bench/): --batch clips of --length steps of random values.
    #[arg(long, conflicts_with = "scaling")]
    config: Option<std::path::PathBuf>,
}

/// The reference sketch classifier: 3 Conv1D+BatchNorm, 2 LSTM(128), Dense(345).
pub const SKETCH_MODEL: &str = r#"{"input_size": 3, "layers": [
  {"type": "conv1d", "filters": 32, "kernel_size": 5, "padding": "same", "activation": "relu"}, {"type": "batch_norm"},
  {"type": "conv1d", "filters": 64, "kernel_size": 5, "padding": "same", "activation": "relu"}, {"type": "batch_norm"},
  {"type": "conv1d", "filters": 128, "kernel_size": 3, "padding": "same", "activation": "relu"}, {"type": "batch_norm"},
  {"type": "lstm", "units": 128, "return_sequences": true}, {"type": "lstm", "units": 128},
  {"type": "dense", "units": 345}]}"#;

/// The reference frame model: three Conv2D (two with 2×2 max pooling) over each 32×32 RGB
/// frame, global average pooling, LSTM(64), Dense(10).
pub const FRAME_MODEL: &str = r#"{"input_shape": [32, 32, 3], "layers": [
  {"type": "time_distributed", "layer": {"type": "conv2d", "filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"}},
  {"type": "time_distributed", "layer": {"type": "max_pool2d", "pool_size": 2}},
  {"type": "time_distributed", "layer": {"type": "conv2d", "filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"}},
  {"type": "time_distributed", "layer": {"type": "max_pool2d", "pool_size": 2}},
  {"type": "time_distributed", "layer": {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": "same", "activation": "relu"}},
  {"type": "time_distributed", "layer": {"type": "global_avg_pool2d"}},
  {"type": "lstm", "units": 64},
  {"type": "dense", "units": 10}]}"#;

/// One LSTM(128) over 128 features.
pub const LSTM_MODEL: &str = r#"{"input_size": 128, "layers": [{"type": "lstm", "units": 128}]}"#;

struct Throughput {
    train: f64,
    infer: f64,
    /// Inference with the model prepared at bf16, then at int8.
    infer_bf16: f64,
    infer_int8: f64,
    /// Forward FLOPs of one sequence; training counts three times that (forward, and the
    /// backward's two products per forward product).
    forward_flops_per_seq: f64,
}

pub fn bench(a: BenchArgs) -> Result<()> {
    if a.scaling {
        return scaling(&a);
    }
    if recur_train::distributed::group().is_some() {
        // The other measurements run for a time, not a step count: ranks would fall out of step.
        anyhow::bail!("under mpirun, `recur bench` measures only with --scaling");
    }
    let probe_seconds = a.seconds.min(2.0);
    let peaks = Peaks {
        sgemm: sgemm_gflops(a.threads, probe_seconds),
        bf16: packed_gflops(Format::Bf16, a.threads, probe_seconds),
        int8: packed_gflops(Format::Int8, a.threads, probe_seconds),
    };
    let models = measure_models(&a)?;
    let mut out = json!({"sgemm_peak_gflops": round1(peaks.sgemm), "bf16_peak_gflops": round1(peaks.bf16),
                         "int8_peak_gops": round1(peaks.int8), "bf16_kernel": Format::Bf16.kernel_name(),
                         "int8_kernel": Format::Int8.kernel_name(), "threads": a.threads, "batch": a.batch, "length": a.length});
    for (name, t) in &models {
        out[*name] = peaks.report(t);
    }
    super::write_stdout(|w| {
        if a.json {
            return writeln!(w, "{out}");
        }
        let names: Vec<&str> = models.iter().map(|(name, _)| *name).collect();
        write_table(w, &a, &peaks, &names, &out)
    })
}

/// The measured models: the one of `--config`, the frame model of `--frames`, or the two
/// built-in ones (the sketch classifier and the lstm128 regressor).
fn measure_models(a: &BenchArgs) -> Result<Vec<(&'static str, Throughput)>> {
    let classes = Loss::SoftmaxCrossEntropy { label_smoothing: 0.0 };
    if let Some(path) = &a.config {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        // The timed step scores one class per sequence: a model giving a sequence is refused
        // here, in words, rather than by the trainer.
        let output = ModelConfig::from_json(&text).and_then(|c| c.output_shape());
        let output = output.with_context(|| format!("model config {}", path.display()))?;
        if output.sequential {
            anyhow::bail!(
                "--config {}: recur bench times classifiers giving one vector per sequence, but this model gives a sequence (end it with a pooling, or a recurrent layer without return_sequences)",
                path.display()
            );
        }
        let measured = measure(&text, classes, a).with_context(|| format!("model config {}", path.display()))?;
        return Ok(vec![("model", measured)]);
    }
    if a.frames {
        return Ok(vec![("frames", measure(FRAME_MODEL, classes, a)?)]);
    }
    Ok(vec![
        ("sketch", measure(SKETCH_MODEL, classes, a)?),
        ("lstm128", measure(LSTM_MODEL, Loss::Mean, a)?),
    ])
}

/// The machine's measured peaks, each path's throughput is reported as a share of its own.
struct Peaks {
    /// fp32 GEMM, GFLOP/s.
    sgemm: f64,
    /// bf16 products with fp32 accumulation, GFLOP/s.
    bf16: f64,
    /// int8 products with int32 accumulation, GOP/s.
    int8: f64,
}

impl Peaks {
    /// One model's figures: sequences per second of each path, the work per sequence, and
    /// each path's share of its peak.
    fn report(&self, t: &Throughput) -> serde_json::Value {
        let share = |seq_per_s: f64, flops: f64, peak: f64| round1(100.0 * seq_per_s * flops / (peak * 1e9));
        let pct = |seq_per_s: f64, flops: f64| share(seq_per_s, flops, self.sgemm);
        let (train_flops, infer_flops) = (3.0 * t.forward_flops_per_seq, t.forward_flops_per_seq);
        json!({"train_seq_per_s": round1(t.train), "infer_seq_per_s": round1(t.infer),
               "train_mflop_per_seq": round1(train_flops / 1e6), "infer_mflop_per_seq": round1(infer_flops / 1e6),
               "train_pct_of_sgemm_peak": pct(t.train, train_flops), "infer_pct_of_sgemm_peak": pct(t.infer, infer_flops),
               "infer_bf16_seq_per_s": round1(t.infer_bf16), "infer_int8_seq_per_s": round1(t.infer_int8),
               "infer_bf16_pct_of_bf16_peak": share(t.infer_bf16, infer_flops, self.bf16),
               "infer_int8_pct_of_int8_peak": share(t.infer_int8, infer_flops, self.int8)})
    }
}

/// The report as a table: the settings and peaks, then a line a model (`out[name]`).
fn write_table(
    w: &mut dyn Write,
    a: &BenchArgs,
    peaks: &Peaks,
    names: &[&str],
    out: &serde_json::Value,
) -> std::io::Result<()> {
    writeln!(
        w,
        "recur bench: batch {}, length {}, {} threads; peaks: sgemm {:.0} GFLOP/s, bf16 {:.0} GFLOP/s ({}), int8 {:.0} GOP/s ({})",
        a.batch,
        a.length,
        a.threads,
        peaks.sgemm,
        peaks.bf16,
        Format::Bf16.kernel_name(),
        peaks.int8,
        Format::Int8.kernel_name()
    )?;
    writeln!(
        w,
        "{:<10} {:>14} {:>14} {:>16} {:>14} {:>14} {:>12} {:>12}",
        "model",
        "train seq/s",
        "infer seq/s",
        "MFLOP/train seq",
        "train % peak",
        "infer % peak",
        "bf16 seq/s",
        "int8 seq/s"
    )?;
    for name in names {
        // serde_json's numbers ignore width flags, so each is formatted as an f64.
        let col = |key: &str| out[name][key].as_f64().unwrap_or(f64::NAN);
        writeln!(
            w,
            "{name:<10} {:>14.1} {:>14.1} {:>16.1} {:>14.1} {:>14.1} {:>12.1} {:>12.1}",
            col("train_seq_per_s"),
            col("infer_seq_per_s"),
            col("train_mflop_per_seq"),
            col("train_pct_of_sgemm_peak"),
            col("infer_pct_of_sgemm_peak"),
            col("infer_bf16_seq_per_s"),
            col("infer_int8_seq_per_s")
        )?;
    }
    Ok(())
}

/// `v` rounded to one decimal, as the report prints it.
fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Repeats `step` until `seconds` have passed (after one warm-up call); returns calls per second.
fn rate(seconds: f64, mut step: impl FnMut() -> Result<()>) -> Result<f64> {
    step()?;
    let start = Instant::now();
    let mut n = 0;
    while n < 3 || start.elapsed().as_secs_f64() < seconds {
        step()?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn measure(config: &str, loss: Loss, a: &BenchArgs) -> Result<Throughput> {
    let (mut trainer, x, targets) = reference_trainer(config, loss, a)?;
    let forward_flops = trainer.model.forward_flops_per_sequence(a.length) as f64;
    let train = rate(a.seconds, || Ok(trainer.train_step(&x, &targets).map(|_| ())?))? * a.batch as f64;
    let mut infer = [0.0; 3];
    for (rate_at, precision) in infer
        .iter_mut()
        .zip([Precision::Fp32, Precision::Bf16, Precision::Int8])
    {
        // Prepared as `recur run` prepares a loaded model (fp32 too: its recurrent weights are
        // packed once where the CPU has AVX-512); layers without a reduced kernel (the frame
        // model's conv2d) run fp32.
        trainer.model.prepare_inference(precision);
        *rate_at = rate(a.seconds, || Ok(trainer.predict(&x).map(|_| ())?))? * a.batch as f64;
    }
    trainer.model.prepare_inference(Precision::Fp32);
    Ok(Throughput {
        train,
        infer: infer[0],
        infer_bf16: infer[1],
        infer_int8: infer[2],
        forward_flops_per_seq: forward_flops,
    })
}

/// A trainer of `config` (Adam, constant rate) and one random batch of `a.batch` sequences of
/// `a.length` steps with class targets.
fn reference_trainer(config: &str, loss: Loss, a: &BenchArgs) -> Result<(Trainer<Model<f32>>, Seq<f32>, Targets)> {
    let config = ModelConfig::from_json(config)?;
    let model = Model::<f32>::new(config.clone(), 1)?;
    let mut rng = Rng::new(2);
    let features = model.input_shapes()[0].features;
    let n = a.batch * a.length * features;
    let x = Seq::new(
        (0..n).map(|_| rng.uniform_range(-1.0, 1.0) as f32).collect(),
        a.batch,
        a.length,
        features,
        vec![a.length; a.batch],
    )?;
    let classes = model.output_shape().features;
    let targets = Targets::Classes((0..a.batch).map(|_| rng.below(classes)).collect());
    let train_config = TrainConfig {
        loss,
        optimizer: OptimizerConfig::adam(),
        clip: None,
        schedule: Schedule::Constant { lr: 1e-3 },
        threads: a.threads,
        seed: 0,
    };
    Ok((Trainer::new(model, train_config), x, targets))
}

/// `recur bench --scaling`: the median time of a sketch-model training step on the global
/// batch (under mpirun every rank trains its share) and of an all-reduce of as many floats as
/// the model has parameters; rank 0 prints them.
fn scaling(a: &BenchArgs) -> Result<()> {
    let (mut trainer, x, targets) =
        reference_trainer(SKETCH_MODEL, Loss::SoftmaxCrossEntropy { label_smoothing: 0.0 }, a)?;
    let step_ms = median_ms(2, a.steps.max(1), || {
        Ok(trainer.train_step(&x, &targets).map(|_| ())?)
    })?;
    let params: usize = trainer.model.named_params().iter().map(|(_, p)| p.value.len()).sum();
    let group = recur_train::distributed::group();
    let reduce_ms = match &group {
        Some(g) => {
            let mut buf = vec![0f32; params];
            Some(median_ms(5, 100, || {
                g.sum_f32(&mut buf);
                Ok(())
            })?)
        }
        None => None,
    };
    if !recur_train::distributed::is_leader() {
        return Ok(());
    }
    let ranks = group.as_ref().map_or(1, |g| g.size());
    let out = json!({"ranks": ranks, "threads_per_rank": a.threads, "batch": a.batch, "length": a.length,
                     "params": params, "ms_per_batch": step_ms, "allreduce_ms": reduce_ms});
    super::write_stdout(|w| {
        if a.json {
            return writeln!(w, "{out}");
        }
        write!(
            w,
            "sketch training, {ranks} rank(s) × {} thread(s), batch {} × {} steps: {step_ms:.2} ms per batch",
            a.threads, a.batch, a.length
        )?;
        match reduce_ms {
            Some(r) => writeln!(w, "; all-reduce of {params} floats: {r:.3} ms"),
            None => writeln!(w),
        }
    })
}

/// Median milliseconds of `timed` calls of `f` after `warmup` untimed ones.
fn median_ms(warmup: usize, timed: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..warmup {
        f()?;
    }
    let mut ms = Vec::with_capacity(timed);
    for _ in 0..timed {
        let start = Instant::now();
        f()?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

/// Single-precision GEMM throughput (GFLOP/s) with one 1024³ product per core at a time:
/// the ceiling the models are measured against.
fn sgemm_gflops(threads: usize, seconds: f64) -> f64 {
    gemm_probe(threads, seconds, |n, a, b, c| {
        matmul(n, n, n, a, n, Transpose::No, b, n, Transpose::No, c, n, false)
    })
}

/// The same probe on recur's reduced-precision kernel (`recur_core::lowp`): the weights
/// packed once, the activations converted (bf16) or quantised (int8) on every call as in a
/// model. Its rate is the peak the bf16 and int8 inference figures are shares of.
fn packed_gflops(format: Format, threads: usize, seconds: f64) -> f64 {
    let n = PROBE_SIZE;
    let w: Vec<f32> = (0..n * n).map(|i| ((i % 97) as f32 - 48.0) / 97.0).collect();
    let packed = PackedWeights::pack(format, &w, n, n);
    gemm_probe(threads, seconds, |n, a, _, c| packed.matmul(n, a, n, c, n, false))
}

/// Rows, columns and depth of the probe products.
const PROBE_SIZE: usize = 1024;

/// Operations per second (in billions, two per multiply-add) of `product(n, a, b, c)` on
/// n×n matrices, run on every core at once.
fn gemm_probe(threads: usize, seconds: f64, product: impl Fn(usize, &[f32], &[f32], &mut [f32]) + Sync) -> f64 {
    let n = PROBE_SIZE;
    let mut work: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = (0..threads.max(1))
        .map(|_| (vec![0.5; n * n], vec![0.25; n * n], vec![0.0; n * n]))
        .collect();
    let per_core = run_on_workers(&mut work, |_, (a, b, c)| {
        let mut run = || product(n, a, b, c);
        run();
        let start = Instant::now();
        let mut k = 0;
        while k < 2 || start.elapsed().as_secs_f64() < seconds {
            run();
            k += 1;
        }
        2.0 * (n * n * n) as f64 * k as f64 / start.elapsed().as_secs_f64()
    });
    per_core.iter().sum::<f64>() / 1e9
}
