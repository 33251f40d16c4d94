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

/// A beam of one is greedy decoding: the most probable token at each step until EOS.
#[test]
fn seq2seq_beam_of_one_equals_greedy_and_nbest_lists_are_ranked() {
    // Many random models, so that every case turns up: EOS best, second best, never.
    for seed in 0..30 {
        beam_of_one_is_greedy(seed);
    }
}

fn beam_of_one_is_greedy(seed: u64) {
    use recur_seq2seq::{search, SearchOptions};
    let cfg = config(CellKind::Lstm, "general", true, 0.0);
    let model = Seq2Seq::<f64>::new(cfg, seed).unwrap();
    let sources: Vec<Vec<u32>> = vec![vec![4, 5, 6, 4], vec![6, 5], vec![5]];
    let greedy_options = SearchOptions {
        beam: 1,
        max_len: 6,
        alpha: 0.0,
        ..SearchOptions::default()
    };
    let beam1 = search(&model, &sources, &greedy_options).unwrap();
    for (b, src) in sources.iter().enumerate() {
        let source = recur_core::Seq::new(
            src.iter().map(|&v| v as f64).collect(),
            1,
            src.len(),
            1,
            vec![src.len()],
        )
        .unwrap();
        let (decoding, mut state) = model.start(source, 1).unwrap();
        let (mut token, mut out, mut log_prob) = (1u32, Vec::new(), 0.0);
        for step in 0..=6 {
            let (lp, next, _) = model.next(&decoding, &[token], &state);
            // Specials other than EOS are never outputs.
            let best = (2..lp.len())
                .filter(|&i| i == 2 || i >= 4)
                .max_by(|&a, &c| lp[a].total_cmp(&lp[c]))
                .unwrap();
            log_prob += lp[best];
            if best == 2 || step == 6 {
                if best != 2 {
                    out.push(best as u32);
                }
                break;
            }
            out.push(best as u32);
            token = best as u32;
            state = next;
        }
        assert_eq!(beam1[b][0].tokens, out, "seed {seed}, source {b}");
        assert!((beam1[b][0].log_prob - log_prob).abs() < 1e-12);
    }
    let wide = search(
        &model,
        &sources,
        &SearchOptions {
            beam: 4,
            nbest: 3,
            ..greedy_options
        },
    )
    .unwrap();
    for hyps in &wide {
        assert!(!hyps.is_empty() && hyps.len() <= 3);
        assert!(hyps.windows(2).all(|w| w[0].score >= w[1].score));
    }
}

/// Each source decodes the same alone as in a batch with others (beams of other sources and
/// source padding do not leak in).
#[test]
fn seq2seq_search_in_a_batch_equals_each_source_alone() {
    use recur_seq2seq::{search, SearchOptions};
    let model = Seq2Seq::<f64>::new(config(CellKind::Gru, "additive", true, 0.0), 4).unwrap();
    let sources: Vec<Vec<u32>> = vec![vec![4, 5, 6, 4, 5], vec![6], vec![5, 4]];
    let options = SearchOptions {
        beam: 3,
        nbest: 2,
        max_len: 5,
        attention: true,
        ..SearchOptions::default()
    };
    let together = search(&model, &sources, &options).unwrap();
    for (b, src) in sources.iter().enumerate() {
        let alone = search(&model, std::slice::from_ref(src), &options).unwrap();
        assert_eq!(alone[0].len(), together[b].len());
        for (a, t) in alone[0].iter().zip(&together[b]) {
            assert_eq!(a.tokens, t.tokens);
            assert!((a.score - t.score).abs() < 1e-12);
            assert_eq!(t.attention.len(), t.tokens.len() + 1);
            assert!(t.attention.iter().all(|w| w.len() == src.len()));
        }
    }
}
