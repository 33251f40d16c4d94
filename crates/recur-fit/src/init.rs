//! The initialisers chosen in the training settings, applied to a freshly built model by each
//! tensor's role (as a PyTorch user loops over `named_parameters()` with `torch.nn.init`):
//! `weight_hh*` are recurrent kernels, `weight_ih*` and the other matrices and convolution
//! weights are kernels, and the forget-gate slice of an LSTM's `bias_ih*` is its forget bias.
//! With the default settings nothing is redrawn, so a model is exactly what the layers build.

use crate::settings::{KernelInit, RecurrentInit, Settings};
use recur_core::Rng;
use recur_nn::{init, Model};
use std::collections::HashMap;

/// Gate blocks of an LSTM's projections; its forget gate is the second (PyTorch's i, f, g, o).
const LSTM_GATES: usize = 4;
const LSTM_FORGET_GATE: usize = 1;

/// Redraws the tensors whose initialiser `settings` changes from the layers' defaults.
pub fn initialise(model: &mut Model<f32>, settings: &Settings, seed: u64) {
    let kernels = settings.kernel_init != KernelInit::GlorotUniform;
    let recurrent = settings.recurrent_init != RecurrentInit::Orthogonal;
    if !kernels && !recurrent && settings.forget_bias.is_none() {
        return;
    }
    // The recurrent kernels' shapes tell each recurrent layer's gates and units, by the name
    // its biases share (`layers.2.weight_hh_l0_reverse` ↔ `layers.2.bias_ih_l0_reverse`).
    let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
    let cells: HashMap<String, (usize, usize)> = model
        .named_params()
        .into_iter()
        .filter(|(n, p)| n.contains("weight_hh") && p.shape.len() == 2 && p.shape[1] > 0)
        .map(|(n, p)| (n.replacen("weight_hh", "", 1), (p.shape[0] / p.shape[1], p.shape[1])))
        .collect();
    let mut rng = Rng::derive(seed, 0x1_1717);
    for (name, p) in names.iter().zip(model.params_mut()) {
        if !p.trainable {
            continue;
        }
        let local = p.name.as_str();
        if local.starts_with("weight_hh") {
            if recurrent && p.shape.len() == 2 {
                let (rows, h) = (p.shape[0], p.shape[1]);
                p.value = (0..rows / h.max(1))
                    .flat_map(|_| init::glorot_uniform::<f32>(h, h, h * h, &mut rng))
                    .collect();
            }
        } else if local.contains("weight") && p.shape.len() >= 2 {
            if kernels {
                // Fans as torch.nn.init computes them: [out, in, k…] → in·k and out·k.
                let field: usize = p.shape[2..].iter().product();
                let (fan_out, fan_in) = (p.shape[0] * field, p.shape[1] * field);
                p.value = kernel(settings.kernel_init, fan_in, fan_out, p.value.len(), &mut rng);
            }
        } else if local.starts_with("bias_ih") {
            let key = name.replacen("bias_ih", "", 1);
            if let (Some(b), Some(&(LSTM_GATES, h))) = (settings.forget_bias, cells.get(&key)) {
                let gate = LSTM_FORGET_GATE * h..(LSTM_FORGET_GATE + 1) * h;
                p.value[gate].fill(b as f32);
            }
        }
    }
}

/// `n` values of the kernel initialiser `kind`.
fn kernel(kind: KernelInit, fan_in: usize, fan_out: usize, n: usize, rng: &mut Rng) -> Vec<f32> {
    let (fan_in, sum) = (fan_in.max(1) as f64, (fan_in + fan_out).max(1) as f64);
    let normal = |std: f64, rng: &mut Rng| (0..n).map(|_| (rng.normal() * std) as f32).collect();
    let uniform = |limit: f64, rng: &mut Rng| (0..n).map(|_| rng.uniform_range(-limit, limit) as f32).collect();
    match kind {
        KernelInit::GlorotUniform => uniform((6.0 / sum).sqrt(), rng),
        KernelInit::GlorotNormal => normal((2.0 / sum).sqrt(), rng),
        KernelInit::HeUniform => uniform((6.0 / fan_in).sqrt(), rng),
        KernelInit::HeNormal => normal((2.0 / fan_in).sqrt(), rng),
        KernelInit::LecunNormal => normal((1.0 / fan_in).sqrt(), rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recur_nn::ModelConfig;

    fn model() -> Model<f32> {
        let config: ModelConfig = serde_json::from_str(
            r#"{"input_size": 3, "layers": [
                {"type": "conv1d", "filters": 8, "kernel_size": 3},
                {"type": "lstm", "units": 16, "bidirectional": true, "return_sequences": true},
                {"type": "gru", "units": 12},
                {"type": "dense", "units": 2}]}"#,
        )
        .unwrap();
        Model::new(config, 4).unwrap()
    }

    fn values(m: &Model<f32>, name: &str) -> Vec<f32> {
        let params = m.named_params();
        params.iter().find(|(n, _)| n == name).unwrap().1.value.clone()
    }

    fn std(v: &[f32]) -> f64 {
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    }

    #[test]
    fn init_defaults_leave_the_model_as_built() {
        let (a, mut b) = (model(), model());
        initialise(&mut b, &Settings::default(), 1);
        for ((_, x), (_, y)) in a.named_params().iter().zip(b.named_params()) {
            assert_eq!(x.value, y.value);
        }
    }

    #[test]
    fn init_kernel_recurrent_and_forget_bias_knobs_act_on_their_tensors() {
        let mut m = model();
        let before = model();
        let settings = Settings {
            kernel_init: KernelInit::HeNormal,
            recurrent_init: RecurrentInit::GlorotUniform,
            forget_bias: Some(2.0),
            ..Settings::default()
        };
        initialise(&mut m, &settings, 1);
        // He normal: deviation √(2 / fan_in); the LSTM's input kernel has fan_in 8.
        let w = values(&m, "layers.1.weight_ih_l0");
        assert!((std(&w) - (2.0f64 / 8.0).sqrt()).abs() < 0.05, "{}", std(&w));
        // Conv1d [8, 3, 3]: fan_in 9.
        let c = values(&m, "layers.0.weight");
        assert!((std(&c) - (2.0f64 / 9.0).sqrt()).abs() < 0.1, "{}", std(&c));
        // Recurrent kernels redrawn, no longer orthogonal blocks (rows of norm 1).
        let r = values(&m, "layers.2.weight_hh_l0");
        assert_ne!(r, values(&before, "layers.2.weight_hh_l0"));
        let row: f32 = r[..12].iter().map(|x| x * x).sum();
        assert!((row - 1.0).abs() > 1e-3);
        // The LSTM's forget slice (second of four 16-unit gates) in both directions; not GRU's.
        for suffix in ["", "_reverse"] {
            let b = values(&m, &format!("layers.1.bias_ih_l0{suffix}"));
            assert!(b[16..32].iter().all(|&x| x == 2.0) && b[..16].iter().all(|&x| x == 0.0));
        }
        assert_eq!(
            values(&m, "layers.2.bias_ih_l0"),
            values(&before, "layers.2.bias_ih_l0")
        );
        // Biases and BatchNorm-free dense bias stay as built.
        assert_eq!(values(&m, "layers.3.bias"), values(&before, "layers.3.bias"));
    }
}
