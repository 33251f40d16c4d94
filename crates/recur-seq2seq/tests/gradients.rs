//! The encoder–decoder's backward against f64 finite differences for each cell, attention and
//! feeding choice, and the padding rule: a batch gives what its pairs give one at a time.

use recur_core::Rng;
use recur_seq2seq::decoder::Batch;
use recur_seq2seq::{CellKind, Seq2Seq, Seq2SeqConfig};

fn config(cell: CellKind, attention: &str, input_feeding: bool, dropout: f64) -> Seq2SeqConfig {
    Seq2SeqConfig {
        source_vocab: 7,
        target_vocab: 8,
        embedding: 3,
        cell,
        encoder_units: 2,
        encoder_layers: 2,
        bidirectional: true,
        decoder_units: 4,
        attention: attention.into(),
        input_feeding,
        dropout,
    }
}

const PAIRS: [(&[u32], &[u32]); 3] = [
    (&[4, 5, 6, 4], &[5, 3, 7]),
    (&[6, 5], &[4, 6, 5, 7, 3]),
    (&[5, 4, 6], &[7]),
];

fn batch(pairs: &[(&[u32], &[u32])]) -> Batch<f64> {
    Batch::new(pairs).unwrap()
}

/// The summed loss (and gradients, into `model`) with a fixed dropout stream.
fn loss(model: &mut Seq2Seq<f64>, b: &Batch<f64>, smoothing: f64) -> f64 {
    model.train_batch(b, &mut Rng::new(42), smoothing, 1.0).unwrap().loss
}

fn check(cfg: Seq2SeqConfig, smoothing: f64) {
    let what = format!("{cfg:?}");
    let mut model = Seq2Seq::<f64>::new(cfg, 3).unwrap();
    let b = batch(&PAIRS);
    model.zero_grad();
    loss(&mut model, &b, smoothing);
    let analytic: Vec<(String, Vec<f64>)> = model
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.grad.clone()))
        .collect();
    let h = 1e-6;
    for (i, (name, grad)) in analytic.iter().enumerate() {
        // A few entries of every tensor keep the check quick.
        let n = grad.len();
        for j in [0, n / 3, n / 2, n - 1] {
            let probe = |delta: f64| {
                let mut m = model.clone();
                m.params_mut()[i].value[j] += delta;
                loss(&mut m, &b, smoothing)
            };
            let numeric = (probe(h) - probe(-h)) / (2.0 * h);
            let diff = (numeric - grad[j]).abs();
            assert!(
                diff <= 1e-6 * (1.0 + numeric.abs()),
                "{name}[{j}]: analytic {} vs numeric {numeric} ({what})",
                grad[j]
            );
        }
    }
}

#[test]
fn seq2seq_gradients_match_finite_differences_lstm_general_feeding() {
    check(config(CellKind::Lstm, "general", true, 0.0), 0.0);
}

#[test]
fn seq2seq_gradients_match_finite_differences_gru_additive() {
    check(config(CellKind::Gru, "additive", false, 0.0), 0.1);
}

#[test]
fn seq2seq_gradients_match_finite_differences_lstm_dot_with_dropout() {
    let mut cfg = config(CellKind::Lstm, "dot", true, 0.3);
    cfg.decoder_units = 4; // dot: decoder width = 2 directions × 2 encoder units
    check(cfg, 0.1);
}

#[test]
fn seq2seq_padded_batch_equals_each_pair_alone() {
    let cfg = config(CellKind::Lstm, "general", true, 0.0);
    let model = Seq2Seq::<f64>::new(cfg, 5).unwrap();
    let mut together = model.clone();
    together.zero_grad();
    let total = loss(&mut together, &batch(&PAIRS), 0.0);
    let mut alone = model.clone();
    alone.zero_grad();
    let sum: f64 = PAIRS.iter().map(|p| loss(&mut alone, &batch(&[*p]), 0.0)).sum();
    assert!((total - sum).abs() < 1e-10, "{total} vs {sum}");
    for ((name, a), (_, b)) in together.named_params().iter().zip(alone.named_params()) {
        for (x, y) in a.grad.iter().zip(&b.grad) {
            assert!((x - y).abs() < 1e-10, "{name}: {x} vs {y}");
        }
    }
}
