//! Attention: f64 finite-difference gradients of queries, memory and every parameter for each
//! kind, source masking, the variable-length rule, and attending step by step.

use super::*;
use crate::gradcheck::{assert_close, crop, random_seq, weighted_loss};

const KINDS: [AttentionKind; 3] = [AttentionKind::Dot, AttentionKind::General, AttentionKind::Additive];

/// An attention of `kind` with queries 4 wide (3 for `dot`) over memory 3 wide.
fn attention(kind: AttentionKind) -> Attention<f64> {
    let q_dim = if kind == AttentionKind::Dot { 3 } else { 4 };
    Attention::new(kind, q_dim, 3, 5, &mut Rng::new(11)).unwrap()
}

/// Padded queries and padded memory whose lengths differ per sequence and from each other.
fn inputs(attn: &Attention<f64>) -> (Seq<f64>, Seq<f64>) {
    let queries = random_seq(3, 4, attn.q_dim(), &[4, 2, 3], 1);
    let memory = random_seq(3, 5, attn.mem_dim(), &[5, 3, 1], 2);
    (queries, memory)
}

fn zero_grads(attn: &mut Attention<f64>) {
    attn.params_mut().into_iter().for_each(|p| p.grad.fill(0.0));
}

/// Loss Σ w·context with fixed weights, its context gradient, and the analytic gradients.
fn run(attn: &mut Attention<f64>, q: &Seq<f64>, m: &Seq<f64>) -> (Seq<f64>, Seq<f64>, Seq<f64>, Seq<f64>) {
    let (context, weights, tape) = attn.forward(q, m, true);
    let (_, d_context) = weighted_loss(&context, 9);
    zero_grads(attn);
    let (dq, dm) = attn.backward(tape, d_context);
    (context, weights, dq, dm)
}

fn loss(attn: &Attention<f64>, q: &Seq<f64>, m: &Seq<f64>) -> f64 {
    weighted_loss(&attn.forward(q, m, false).0, 9).0
}

fn close(what: String, analytic: f64, numeric: f64) {
    let err = (analytic - numeric).abs() / (1e-4 + analytic.abs().max(numeric.abs()));
    assert!(err < 1e-6, "{what}: analytic {analytic:.8e} vs numeric {numeric:.8e}");
}

/// Central differences of the loss over every real value of `x` (`which` picks queries or
/// memory), and exactly zero analytic gradient at padded steps.
fn check_input_grad(attn: &Attention<f64>, q: &Seq<f64>, m: &Seq<f64>, grad: &Seq<f64>, which: usize) {
    let eps = 1e-6;
    let x = if which == 0 { q } else { m };
    for i in 0..x.data.len() {
        let (b, t) = (i / (x.time * x.features), (i / x.features) % x.time);
        if !x.valid(b, t) {
            assert_eq!(
                grad.data[i], 0.0,
                "gradient reached padded step ({b},{t}) of input {which}"
            );
            continue;
        }
        let mut inputs = [q.clone(), m.clone()];
        inputs[which].data[i] += eps;
        let lp = loss(attn, &inputs[0], &inputs[1]);
        inputs[which].data[i] -= 2.0 * eps;
        let lm = loss(attn, &inputs[0], &inputs[1]);
        close(format!("input {which}[{i}]"), grad.data[i], (lp - lm) / (2.0 * eps));
    }
}

#[test]
fn attention_gradients_match_finite_differences() {
    let eps = 1e-6;
    for kind in KINDS {
        let mut attn = attention(kind);
        let (q, m) = inputs(&attn);
        let (_, _, dq, dm) = run(&mut attn, &q, &m);
        check_input_grad(&attn, &q, &m, &dq, 0);
        check_input_grad(&attn, &q, &m, &dm, 1);
        let analytic: Vec<(String, Vec<f64>)> =
            attn.params().iter().map(|p| (p.name.clone(), p.grad.clone())).collect();
        assert_eq!(analytic.len(), [0, 1, 4][kind as usize], "{kind:?} parameters");
        for (k, (name, grads)) in analytic.iter().enumerate() {
            for (j, &g) in grads.iter().enumerate() {
                attn.params_mut()[k].value[j] += eps;
                let lp = loss(&attn, &q, &m);
                attn.params_mut()[k].value[j] -= 2.0 * eps;
                let lm = loss(&attn, &q, &m);
                attn.params_mut()[k].value[j] += eps;
                close(format!("{kind:?} {name}[{j}]"), g, (lp - lm) / (2.0 * eps));
            }
        }
    }
}

#[test]
fn attention_weights_sum_to_one_over_real_source_steps_and_masked_steps_get_zero() {
    for kind in KINDS {
        let mut attn = attention(kind);
        let (q, m) = inputs(&attn);
        let (context, weights, _, dm) = run(&mut attn, &q, &m);
        assert_eq!((weights.batch, weights.time, weights.features), (3, 4, 5));
        for b in 0..q.batch {
            for i in 0..q.time {
                let row = weights.step(b, i);
                let real: f64 = row[..m.lengths[b]].iter().sum();
                if q.valid(b, i) {
                    assert!(
                        (real - 1.0).abs() < 1e-12,
                        "{kind:?} weights of ({b},{i}) sum to {real}"
                    );
                    assert!(row[..m.lengths[b]].iter().all(|&a| a > 0.0));
                } else {
                    assert!(context.step(b, i).iter().all(|&c| c == 0.0), "context at padded query");
                    assert_eq!(real, 0.0, "{kind:?} weights at padded query ({b},{i})");
                }
                assert!(row[m.lengths[b]..].iter().all(|&a| a == 0.0), "{kind:?} masked weight");
            }
            for t in m.lengths[b]..m.time {
                assert!(dm.step(b, t).iter().all(|&g| g == 0.0), "{kind:?} masked gradient");
            }
        }
        // What sits in the masked memory steps never matters.
        let mut noisy = m.clone();
        noisy.data.iter_mut().for_each(|v| *v += 3.0);
        for b in 0..m.batch {
            for t in 0..m.lengths[b] {
                noisy.step_mut(b, t).copy_from_slice(m.step(b, t));
            }
        }
        let (c2, w2, _) = attn.forward(&q, &noisy, false);
        assert_close(&c2.data, &context.data, &format!("{kind:?} context with noisy padding"));
        assert_close(&w2.data, &weights.data, &format!("{kind:?} weights with noisy padding"));
    }
}

#[test]
fn attention_padded_batch_matches_each_sequence_alone() {
    for kind in KINDS {
        let mut attn = attention(kind);
        let (q, m) = inputs(&attn);
        let (_, d_context) = weighted_loss(&attn.forward(&q, &m, false).0, 4);
        let (context, weights, tape) = attn.forward(&q, &m, true);
        zero_grads(&mut attn);
        let (dq, dm) = attn.backward(tape, d_context.clone());
        let batch_grads: Vec<Vec<f64>> = attn.params().iter().map(|p| p.grad.clone()).collect();
        let mut summed: Vec<Vec<f64>> = batch_grads.iter().map(|g| vec![0.0; g.len()]).collect();
        for b in 0..q.batch {
            let (n_q, n_m) = (q.lengths[b], m.lengths[b]);
            let q1 = crop(&q.slice_batch(b..b + 1), n_q);
            let m1 = crop(&m.slice_batch(b..b + 1), n_m);
            let (c1, w1, tape1) = attn.forward(&q1, &m1, true);
            let mut dc1 = Seq::zeros_like(&c1, c1.features);
            for i in 0..n_q {
                let what = format!("{kind:?} sequence {b} step {i}");
                assert_close(c1.step(0, i), context.step(b, i), &format!("context of {what}"));
                assert_close(w1.step(0, i), &weights.step(b, i)[..n_m], &format!("weights of {what}"));
                dc1.step_mut(0, i).copy_from_slice(d_context.step(b, i));
            }
            zero_grads(&mut attn);
            let (dq1, dm1) = attn.backward(tape1, dc1);
            for i in 0..n_q {
                assert_close(dq1.step(0, i), dq.step(b, i), &format!("{kind:?} query grad {b},{i}"));
            }
            for j in 0..n_m {
                assert_close(dm1.step(0, j), dm.step(b, j), &format!("{kind:?} memory grad {b},{j}"));
            }
            for (s, p) in summed.iter_mut().zip(attn.params()) {
                s.iter_mut().zip(&p.grad).for_each(|(a, g)| *a += g);
            }
        }
        for ((s, g), p) in summed.iter().zip(&batch_grads).zip(attn.params()) {
            assert_close(s, g, &format!("{kind:?} gradient of {}", p.name));
        }
    }
}

/// Attending step by step over a prepared memory (one query vector per sequence, as a decoder
/// with input feeding does) gives the sequence form's contexts, weights and gradients.
#[test]
fn attention_step_by_step_over_prepared_memory_equals_the_sequence_form() {
    for kind in KINDS {
        let mut attn = attention(kind);
        let (_, m) = inputs(&attn);
        let q = random_seq(3, 3, attn.q_dim(), &[3, 3, 3], 6);
        let (context, weights, tape) = attn.forward(&q, &m, true);
        let (_, d_context) = weighted_loss(&context, 8);
        zero_grads(&mut attn);
        let (dq, dm) = attn.backward(tape, d_context.clone());
        let whole_grads: Vec<Vec<f64>> = attn.params().iter().map(|p| p.grad.clone()).collect();
        zero_grads(&mut attn);
        let memory = attn.prepare(m.clone());
        let mut grad = attn.memory_grad(&memory);
        let mut tapes = Vec::new();
        for t in 0..q.time {
            let step: Vec<f64> = (0..q.batch).flat_map(|b| q.step(b, t).to_vec()).collect();
            let step = Seq::vectors(step, q.batch, q.features).unwrap();
            let (c, w, tape) = attn.attend(&step, &memory, true);
            assert!(!c.sequential && !w.sequential);
            assert_eq!((c.features, w.features), (attn.mem_dim(), m.time));
            for b in 0..q.batch {
                assert_close(c.step(b, 0), context.step(b, t), &format!("{kind:?} step context"));
                assert_close(w.step(b, 0), weights.step(b, t), &format!("{kind:?} step weights"));
            }
            tapes.push((tape, c));
        }
        // Backward runs the steps in reverse, as a decoder's backward does.
        for (t, (tape, c)) in tapes.into_iter().enumerate().rev() {
            let mut dc = Seq::zeros_like(&c, c.features);
            for b in 0..q.batch {
                dc.step_mut(b, 0).copy_from_slice(d_context.step(b, t));
            }
            let dq_t = attn.attend_backward(tape, dc, &memory, &mut grad);
            for b in 0..q.batch {
                assert_close(dq_t.step(b, 0), dq.step(b, t), &format!("{kind:?} step query grad"));
            }
        }
        let dm_steps = attn.finish(&memory, grad);
        assert_close(
            &dm_steps.data,
            &dm.data,
            &format!("{kind:?} memory grad summed over steps"),
        );
        for (g, p) in whole_grads.iter().zip(attn.params()) {
            assert_close(&p.grad, g, &format!("{kind:?} gradient of {} over steps", p.name));
        }
    }
}

#[test]
fn attention_over_an_empty_memory_gives_a_zero_context() {
    for kind in KINDS {
        let mut attn = attention(kind);
        let q = random_seq(2, 2, attn.q_dim(), &[2, 1], 1);
        let m = random_seq(2, 3, attn.mem_dim(), &[0, 3], 2);
        let (context, weights, dq, dm) = run(&mut attn, &q, &m);
        assert!(context.step(0, 0).iter().chain(weights.step(0, 1)).all(|&v| v == 0.0));
        assert!(dq.step(0, 0).iter().chain(&dm.data[..9]).all(|&v| v == 0.0));
        assert!(dq.data.iter().chain(&dm.data).all(|v| v.is_finite()));
    }
}

#[test]
fn attention_rejects_sizes_that_do_not_fit() {
    let dot = Attention::<f64>::new(AttentionKind::Dot, 4, 3, 0, &mut Rng::new(1));
    assert!(dot.err().unwrap().to_string().contains("as wide as the memory"));
    assert!(Attention::<f64>::new(AttentionKind::Additive, 4, 3, 0, &mut Rng::new(1)).is_err());
    assert_eq!(AttentionKind::from_name("general"), Some(AttentionKind::General));
    assert_eq!(AttentionKind::from_name("mlp"), None);
    let attn = attention(AttentionKind::General);
    let (q, m) = inputs(&attn);
    assert!(attn.check_inputs(&q, &m).is_ok());
    assert!(attn.check_inputs(&m, &m).unwrap_err().contains("queries of 4 features"));
    assert!(attn.check_inputs(&q, &q).unwrap_err().contains("memory of 3 features"));
    let short = m.slice_batch(0..2);
    assert!(attn
        .check_inputs(&q, &short)
        .unwrap_err()
        .contains("one memory per query"));
}
