use super::*;
use crate::gradcheck::{check_gradients, check_padding_matches_alone, random_seq};

fn options(units: usize, return_sequences: bool, bidirectional: bool) -> RecurrentOptions {
    RecurrentOptions {
        units,
        return_sequences,
        bidirectional,
        dropout: 0.0,
        recurrent_dropout: 0.0,
        unit_forget_bias: true,
    }
}

fn each_variant(mut check: impl FnMut(&mut dyn Layer<f64>)) {
    let input = Shape::new(3, true);
    for (seqs, bidi) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut rng = Rng::new(11);
        check(&mut Lstm::<f64>::new(input, options(4, seqs, bidi), &mut rng));
        check(&mut Gru::<f64>::new(input, options(4, seqs, bidi), &mut rng));
        check(&mut SimpleRnn::<f64>::new(input, options(4, seqs, bidi), &mut rng));
    }
}

#[test]
fn gradients_match_finite_differences() {
    each_variant(|layer| check_gradients(layer, &random_seq(3, 5, 3, &[5, 2, 4], 1), 1e-5));
}

#[test]
fn padded_batch_matches_each_sequence_alone() {
    each_variant(|layer| check_padding_matches_alone(layer, &random_seq(3, 6, 3, &[6, 2, 4], 2)));
}

#[test]
fn dropout_gradients_match_finite_differences() {
    let input = Shape::new(3, true);
    let mut opts = options(4, true, true);
    opts.dropout = 0.3;
    opts.recurrent_dropout = 0.4;
    let mut rng = Rng::new(5);
    // The checker re-seeds every forward pass, so the masks stay fixed while it probes.
    check_gradients(
        &mut Lstm::<f64>::new(input, opts.clone(), &mut rng),
        &random_seq(2, 4, 3, &[4, 3], 3),
        1e-5,
    );
    check_gradients(
        &mut Gru::<f64>::new(input, opts, &mut rng),
        &random_seq(2, 4, 3, &[4, 3], 3),
        1e-5,
    );
}

/// Gradients with respect to the initial state, and through the returned final state.
#[test]
fn state_gradients_match_finite_differences() {
    let input = Shape::new(2, true);
    let mut layer = Lstm::<f64>::new(input, options(3, true, true), &mut Rng::new(9));
    let x = random_seq(2, 4, 2, &[4, 3], 4);
    let mut r = Rng::new(3);
    let n = 2 * 2 * 3;
    let init = RnnState {
        h: (0..n).map(|_| r.uniform_range(-1.0, 1.0)).collect(),
        c: (0..n).map(|_| r.uniform_range(-1.0, 1.0)).collect(),
    };
    let w_final: Vec<f64> = (0..2 * n).map(|_| r.uniform_range(-1.0, 1.0)).collect();
    let loss = |layer: &mut Lstm<f64>, init: &RnnState<f64>| {
        let mut rng = Rng::new(1);
        let (y, s, tape) = layer.forward_with_state(x.clone(), Some(init), &mut Ctx::new(true, &mut rng));
        let l: f64 = y.data.iter().sum::<f64>() + s.h.iter().chain(&s.c).zip(&w_final).map(|(a, b)| a * b).sum::<f64>();
        (l, y, tape)
    };
    let (_, y, tape) = loss(&mut layer, &init);
    let mut dy = y.clone();
    dy.data.iter_mut().for_each(|v| *v = 1.0);
    dy.zero_padding();
    let d_final = RnnState {
        h: w_final[..n].to_vec(),
        c: w_final[n..].to_vec(),
    };
    let (_, d_init) = layer.backward_with_state(tape, dy, Some(&d_final), true);
    let eps = 1e-6;
    for (which, analytic) in [(0, &d_init.h), (1, &d_init.c)] {
        for i in 0..n {
            let mut p = init.clone();
            let v = if which == 0 { &mut p.h } else { &mut p.c };
            v[i] += eps;
            let lp = loss(&mut layer, &p).0;
            let v = if which == 0 { &mut p.h } else { &mut p.c };
            v[i] -= 2.0 * eps;
            let lm = loss(&mut layer, &p).0;
            let numeric = (lp - lm) / (2.0 * eps);
            assert!(
                (numeric - analytic[i]).abs() < 1e-6 * (1.0 + numeric.abs()),
                "state {which}[{i}]: {} vs {numeric}",
                analytic[i]
            );
        }
    }
}

#[test]
fn f32_matches_f64() {
    let input = Shape::new(3, true);
    let l64 = Lstm::<f64>::new(input, options(8, true, true), &mut Rng::new(2));
    let l32 = Lstm::<f32>::new(input, options(8, true, true), &mut Rng::new(2));
    let x = random_seq(3, 7, 3, &[7, 1, 5], 8);
    let mut rng = Rng::new(0);
    let (y64, _) = l64.forward(x.clone(), &mut Ctx::new(false, &mut rng));
    let (y32, _) = l32.forward(x.cast(), &mut Ctx::new(false, &mut rng));
    for (a, b) in y64.data.iter().zip(&y32.data) {
        assert!((a - *b as f64).abs() < 1e-5);
    }
}

/// Inference keeps only the current step; it must give exactly what training mode gives.
#[test]
fn inference_path_matches_training_path() {
    each_variant(|layer| {
        let x = random_seq(3, 6, 3, &[6, 2, 4], 4);
        let mut rng = Rng::new(0);
        let (a, _) = layer.forward(x.clone(), &mut Ctx::new(true, &mut rng));
        let (b, _) = layer.forward(x, &mut Ctx::new(false, &mut rng));
        assert_eq!(a, b);
    });
}

#[test]
fn params_only_backward_gives_the_same_parameter_gradients() {
    let x = random_seq(3, 5, 3, &[5, 2, 4], 4);
    each_variant(|layer| {
        let mut twin = layer.clone_box();
        let mut grads = Vec::new();
        for (l, params_only) in [(&mut *layer, false), (&mut *twin, true)] {
            let (y, tape) = l.forward(x.clone(), &mut Ctx::new(true, &mut Rng::new(1)));
            let dy = Seq {
                data: y.data.iter().map(|v| v.sin() + 0.5).collect(),
                ..y
            };
            l.backward(tape, dy, !params_only);
            grads.push(l.params().iter().flat_map(|p| p.grad.clone()).collect::<Vec<f64>>());
        }
        assert_eq!(grads[0], grads[1]);
    });
}

/// A state of `batch` rows with values uniform in ±1 (`c` too for an LSTM).
fn random_state<C: super::Cell>(layer: &Recurrent<f64, C>, batch: usize, r: &mut Rng) -> RnnState<f64> {
    let mut state = layer.zero_state(batch);
    state
        .h
        .iter_mut()
        .chain(state.c.iter_mut())
        .for_each(|v| *v = r.uniform_range(-1.0, 1.0));
    state
}

/// Stepping a layer through a sequence from a given state gives what the whole-sequence pass
/// gives at every step, for each cell.
#[test]
fn step_api_matches_the_sequence_pass() {
    fn check<C: super::Cell>(layer: &Recurrent<f64, C>) {
        let (batch, time, units) = (2, 5, 4);
        let x = random_seq(batch, time, 3, &[time, time], 6);
        let start = random_state(layer, batch, &mut Rng::new(8));
        let (y, last, _) = layer.forward_with_state(x.clone(), Some(&start), &mut Ctx::new(false, &mut Rng::new(0)));
        // The first `ahead` features projected before stepping, the rest by each step.
        for ahead in [0, 1, 3] {
            let weights = layer.step_weights(ahead).unwrap();
            let mut state = start.clone();
            for t in 0..time {
                let (x_ahead, x_rest) = split_step(&x, t, ahead);
                let mut projected = layer.project_ahead(&weights, batch, &x_ahead);
                state = layer.step(&weights, &mut projected, &x_rest, &state);
                for b in 0..batch {
                    crate::gradcheck::assert_close(&state.h[b * units..(b + 1) * units], y.step(b, t), "step output");
                }
            }
            crate::gradcheck::assert_close(&state.c, &last.c, "final cell state");
        }
    }
    let input = Shape::new(3, true);
    let mut rng = Rng::new(5);
    check(&Lstm::<f64>::new(input, options(4, true, false), &mut rng));
    check(&Gru::<f64>::new(input, options(4, true, false), &mut rng));
    check(&SimpleRnn::<f64>::new(input, options(4, true, false), &mut rng));
    let bidi = Gru::<f64>::new(input, options(4, true, true), &mut rng);
    assert!(bidi.step_weights(0).is_err());
    let uni = Gru::<f64>::new(input, options(4, true, false), &mut rng);
    assert!(uni.step_weights(4).is_err(), "more features ahead than the input has");
}

/// Training step by step (`step_train`, then `step_backward_deferred` in reverse and
/// `add_step_gradients`), with none or part of the input projected ahead, gives the gradients
/// of the whole-sequence pass, which the finite-difference checks above cover: the input's,
/// the initial state's and every weight's, for each cell.
#[test]
fn step_backward_matches_the_sequence_backward() {
    fn check<C: super::Cell>(layer: &Recurrent<f64, C>) {
        let (batch, time, units) = (2, 4, 4);
        let x = random_seq(batch, time, 3, &[time, time], 9);
        let mut r = Rng::new(3);
        let init = random_state(layer, batch, &mut r);
        let dy = random_seq(batch, time, units, &[time, time], 10);
        let mut dc_final = vec![0.0; init.c.len()];
        dc_final.iter_mut().for_each(|v| *v = r.uniform_range(-1.0, 1.0));
        let mut rng = Rng::new(0);
        let mut ctx = Ctx::new(true, &mut rng);
        let mut whole = layer.clone();
        let (_, _, tape) = whole.forward_with_state(x.clone(), Some(&init), &mut ctx);
        let d_final = RnnState {
            h: vec![0.0; init.h.len()],
            c: dc_final.clone(),
        };
        let (dx, d_init) = whole.backward_with_state(tape, dy.clone(), Some(&d_final), true);

        for ahead in [0, 2] {
            let mut stepped = layer.clone();
            stepped.params_mut().into_iter().for_each(|p| p.grad.fill(0.0));
            let weights = stepped.step_weights(ahead).unwrap();
            let (mut state, mut tapes) = (init.clone(), Vec::new());
            for t in 0..time {
                let (x_ahead, x_rest) = split_step(&x, t, ahead);
                let mut projected = stepped.project_ahead(&weights, batch, &x_ahead);
                let (next, tape) = stepped.step_train(&weights, &mut projected, &x_rest, &state);
                state = next;
                tapes.push(tape);
            }
            let mut carry = RnnState {
                h: vec![0.0; init.h.len()],
                c: dc_final.clone(),
            };
            let (mut grads, mut x_ahead_back) = (StepGradients::default(), Vec::new());
            for t in (0..time).rev() {
                let tape = tapes.pop().unwrap();
                let mut dh = carry.h.clone();
                for b in 0..batch {
                    dh[b * units..(b + 1) * units]
                        .iter_mut()
                        .zip(dy.step(b, t))
                        .for_each(|(d, &g)| *d += g);
                }
                let (dxt, d_prev) = stepped.step_backward_deferred(tape, &dh, &carry.c, &mut grads);
                for b in 0..batch {
                    let (got, want) = (&dxt[b * (3 - ahead)..(b + 1) * (3 - ahead)], &dx.step(b, t)[ahead..]);
                    crate::gradcheck::assert_close(got, want, "step input gradient");
                }
                x_ahead_back.extend(split_step(&x, t, ahead).0);
                carry = d_prev;
            }
            let d_ahead = stepped.add_step_gradients(grads, &x_ahead_back);
            for (i, t) in (0..time).rev().enumerate() {
                for b in 0..batch {
                    let row = (i * batch + b) * ahead;
                    let want = &dx.step(b, t)[..ahead];
                    crate::gradcheck::assert_close(&d_ahead[row..row + ahead], want, "input gradient projected ahead");
                }
            }
            crate::gradcheck::assert_close(&carry.h, &d_init.h, "initial h gradient");
            crate::gradcheck::assert_close(&carry.c, &d_init.c, "initial c gradient");
            for (a, b) in stepped.params().iter().zip(whole.params()) {
                crate::gradcheck::assert_close(&a.grad, &b.grad, &a.name);
            }
        }
    }
    let input = Shape::new(3, true);
    let mut rng = Rng::new(5);
    check(&Lstm::<f64>::new(input, options(4, true, false), &mut rng));
    check(&Gru::<f64>::new(input, options(4, true, false), &mut rng));
    check(&SimpleRnn::<f64>::new(input, options(4, true, false), &mut rng));
}

/// Step `t` of every sequence of `x`, split into the first `ahead` features and the rest.
fn split_step(x: &Seq<f64>, t: usize, ahead: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    for b in 0..x.batch {
        first.extend_from_slice(&x.step(b, t)[..ahead]);
        rest.extend_from_slice(&x.step(b, t)[ahead..]);
    }
    (first, rest)
}

/// Inference on packed weights projects a large batch's inputs a span of steps at a time (an
/// LSTM of 128 units over 40 sequences: 6 steps a span here) and a lone sequence all at once,
/// and runs each step over the sequences still going (all but the ended ones at the batch's
/// end; only those still going when the batch runs longest first, none in the steps after
/// the longest); each sequence of the batch must get exactly what it gets alone, at every
/// precision, for every cell and direction.
#[test]
fn packed_inference_spans_match_each_sequence_alone() {
    let input = Shape::new(5, true);
    let lengths: Vec<usize> = (0..40).map(|b| 1 + (b * 7) % 20).collect();
    let mixed: Seq<f32> = random_seq(40, 20, 5, &lengths, 3).cast();
    let mut longest_first: Vec<usize> = (0..40).collect();
    longest_first.sort_by_key(|&b| std::cmp::Reverse(lengths[b]));
    let padded: Seq<f32> = random_seq(40, 26, 5, &lengths, 3).cast();
    let cases = [
        (mixed.clone(), false),
        (mixed, true),
        (padded.select_batch(&longest_first), true),
    ];
    for (x, bidirectional) in cases {
        let lengths = x.lengths.clone();
        let mut rng = Rng::new(5);
        let layers: [Box<dyn Layer<f32>>; 3] = [
            Box::new(Lstm::<f32>::new(input, options(128, true, bidirectional), &mut rng)),
            Box::new(Gru::<f32>::new(input, options(128, true, bidirectional), &mut rng)),
            Box::new(SimpleRnn::<f32>::new(
                input,
                options(128, true, bidirectional),
                &mut rng,
            )),
        ];
        for mut layer in layers {
            // fp32 packs f32 panels where the CPU has AVX-512 (else it keeps the GEMM, whose
            // blocking may depend on the batch).
            let fp32 = recur_core::lowp::Format::F32
                .fast_path_available()
                .then_some(Precision::Fp32);
            for precision in fp32.into_iter().chain([Precision::Bf16, Precision::Int8]) {
                layer.prepare_inference(precision);
                let run = |x: Seq<f32>| {
                    let mut rng = Rng::new(0);
                    let ctx = &mut Ctx::new(false, &mut rng);
                    layer.forward(x, ctx).0
                };
                let y = run(x.clone());
                for (b, &len) in lengths.iter().enumerate() {
                    let mut alone = x.slice_batch(b..b + 1);
                    alone.data.truncate(len * x.features);
                    (alone.time, alone.lengths) = (len, vec![len]);
                    let y1 = run(alone);
                    for t in 0..len {
                        assert_eq!(y1.step(0, t), y.step(b, t), "{precision} sequence {b} step {t}");
                    }
                }
            }
        }
    }
}

/// Inference allowed two threads runs a bidirectional layer's directions at once (the reverse
/// one on the helper thread): the same numbers as one after the other, as trained and
/// prepared at every precision, for a lone sequence and for a batch.
#[test]
fn bidirectional_inference_on_two_threads_matches_one() {
    let input = Shape::new(5, true);
    let lengths = [9, 4, 7];
    let x: Seq<f32> = random_seq(3, 9, 5, &lengths, 4).cast();
    for return_sequences in [false, true] {
        let mut rng = Rng::new(6);
        let layers: [Box<dyn Layer<f32>>; 2] = [
            Box::new(Lstm::<f32>::new(input, options(32, return_sequences, true), &mut rng)),
            Box::new(Gru::<f32>::new(input, options(32, return_sequences, true), &mut rng)),
        ];
        for mut layer in layers {
            for precision in [
                None,
                Some(Precision::Fp32),
                Some(Precision::Bf16),
                Some(Precision::Int8),
            ] {
                if let Some(precision) = precision {
                    layer.prepare_inference(precision);
                }
                let run = |x: Seq<f32>, threads: usize| {
                    let mut rng = Rng::new(0);
                    layer.forward(x, &mut Ctx::new(false, &mut rng).with_threads(threads)).0
                };
                for batch in [0..1, 0..3] {
                    let x = x.slice_batch(batch);
                    assert_eq!(run(x.clone(), 2).data, run(x, 1).data, "{precision:?}");
                }
            }
        }
    }
}

/// Training at bf16 (operands rounded to bfloat16, f32 sums) gives outputs and every gradient
/// within bfloat16's rounding of fp32's (relative to each tensor's size), for a fused cell
/// (LSTM) and an unfused one (GRU), both directions, padded sequences and rows enough for the
/// tile unit's 16-row blocks where the CPU has one.
#[test]
fn bf16_training_stays_within_bfloat16_rounding_of_fp32() {
    fn run<C: Cell>(precision: Precision) -> (Vec<f32>, Vec<Vec<f32>>) {
        let mut layer = Recurrent::<f32, C>::new(Shape::new(6, true), options(24, true, true), &mut Rng::new(3));
        layer.set_training_precision(precision);
        let lengths: Vec<usize> = (0..20).map(|b| 3 + b % 9).collect();
        let x: Seq<f32> = random_seq(20, 11, 6, &lengths, 5).cast();
        let (y, tape) = layer.forward(x, &mut Ctx::new(true, &mut Rng::new(1)));
        let dy = Seq {
            data: y
                .data
                .iter()
                .enumerate()
                .map(|(i, v)| v.sin() + (i % 7) as f32 * 0.1)
                .collect(),
            ..y.clone()
        };
        layer.backward(tape, dy, true);
        (y.data, layer.params().iter().map(|p| p.grad.clone()).collect())
    }
    fn relative_gap(a: &[f32], b: &[f32]) -> f32 {
        let norm = |v: &mut dyn Iterator<Item = f32>| v.map(|x| x * x).sum::<f32>().sqrt();
        norm(&mut a.iter().zip(b).map(|(x, y)| x - y)) / norm(&mut a.iter().copied()).max(1e-12)
    }
    fn compare<C: Cell>(name: &str) {
        let ((y32, g32), (y16, g16)) = (run::<C>(Precision::Fp32), run::<C>(Precision::Bf16));
        assert!(relative_gap(&y32, &y16) < 1e-2, "{name} output");
        for (i, (a, b)) in g32.iter().zip(&g16).enumerate() {
            let gap = relative_gap(a, b);
            assert!(gap < 2e-2, "{name} gradient {i}: relative gap {gap}");
        }
        assert_ne!(g32, g16, "{name}: bf16 changed nothing");
    }
    compare::<LstmCell>("lstm");
    compare::<GruCell>("gru");
}
