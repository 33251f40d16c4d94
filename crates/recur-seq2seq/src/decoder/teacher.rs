//! Teacher forcing, forward and backward side by side: the decoder is unrolled over a batch with
//! the true previous tokens as inputs ([`Seq2Seq::unroll`]), the generator's loss is taken over
//! the real target steps, and the steps are gone back through latest first
//! ([`Seq2Seq::step_back`]), each on the prefix of sequences still decoding at that step.

use super::{first_rows, Batch, Layout, LossStats, StepRecord, PAD};
use crate::model::{add, Seq2Seq};
use recur_core::{matmul, Float, Rng, Seq, Transpose};
use recur_nn::dropout::inverted_mask;
use recur_nn::{Ctx, Layer, MemoryGrad, NnError, PreparedMemory, RnnState, StepGradients};

/// The decoder unrolled over a batch: what backward needs of the forward pass.
struct Unrolled<T> {
    /// How many sequences are still decoding at each step (the batch's first rows).
    active: Vec<usize>,
    /// The embedded inputs, rows stacked step after step (the active sequences at each).
    x_ahead: Vec<T>,
    /// `h̃` after dropout, `[batch, time, decoder_units]`.
    outputs: Seq<T>,
    /// One record per step, in step order.
    records: Vec<StepRecord<T>>,
}

/// What going back carries from a step to the one before it, and gathers for after the loop.
struct Back<T> {
    /// The gradient reaching the recurrent state entering the later step.
    carry: RnnState<T>,
    /// The gradient reaching the attentional state fed into the later step (input feeding).
    d_feed: Vec<T>,
    /// The memory's gradient, accumulated over the steps that attended to it.
    memory: MemoryGrad<T>,
    /// The recurrent step's weight gradients, added once after the loop.
    rnn: StepGradients<T>,
    /// `linear_out`'s inputs and output gradients of every step, for one GEMM after the loop.
    out_inputs: Vec<T>,
    out_grads: Vec<T>,
}

impl<T: Float> Seq2Seq<T> {
    /// Teacher forcing on one batch: forward, the loss (cross-entropy with `label_smoothing`,
    /// summed over target tokens and multiplied by `scale` in the gradient) and backward,
    /// adding every parameter's gradient.
    pub fn train_batch(
        &mut self,
        batch: &Batch<T>,
        rng: &mut Rng,
        label_smoothing: f64,
        scale: f64,
    ) -> Result<LossStats, NnError> {
        let mut ctx = Ctx::new(true, rng);
        let encoded = self.encode(batch.source.clone(), &mut ctx)?;
        let memory = self.attention.prepare(encoded.memory.clone());
        let (mut embedded, emb_tape) = self.embedding.forward(batch.inputs.clone(), &mut ctx);
        let emb_mask =
            (self.config.dropout > 0.0).then(|| inverted_mask(embedded.data.len(), self.config.dropout, ctx.rng));
        if let Some(m) = &emb_mask {
            embedded.data.iter_mut().zip(m).for_each(|(v, &m)| *v *= m);
        }
        let weights = self.layout()?;
        let mut unrolled = self.unroll(batch, &embedded, &weights, &memory, &encoded.initial, ctx.rng);
        let (stats, d_outputs) = self.generator_loss(batch, &unrolled.outputs, label_smoothing, scale);

        let mut back = Back {
            carry: RnnState {
                h: Vec::new(),
                c: Vec::new(),
            },
            d_feed: Vec::new(),
            memory: self.attention.memory_grad(&memory),
            rnn: StepGradients::default(),
            out_inputs: Vec::new(),
            out_grads: Vec::new(),
        };
        let hd = self.config.decoder_units;
        for (t, &rows) in unrolled.active.iter().enumerate().rev() {
            let record = unrolled.records.pop().expect("one record per step");
            let mut d_out = vec![T::ZERO; rows * hd];
            for b in 0..rows {
                let o = (b * batch.inputs.time + t) * hd;
                d_out[b * hd..(b + 1) * hd].copy_from_slice(&d_outputs[o..o + hd]);
            }
            self.step_back(record, d_out, &memory, &mut back);
        }
        let mut d_embedded = self.embedding_gradient(&unrolled, back.rnn, &embedded);
        self.add_linear_out_gradient(&back.out_grads, &back.out_inputs);
        if let Some(m) = &emb_mask {
            d_embedded.data.iter_mut().zip(m).for_each(|(d, &m)| *d *= m);
        }
        self.embedding.backward(emb_tape, d_embedded, false);
        let d_memory = self.attention.finish(&memory, back.memory);
        self.encode_backward(encoded, d_memory, &back.carry);
        Ok(stats)
    }

    /// Runs every decoder step of `batch` with its true previous tokens (`embedded`), from the
    /// encoder's `initial` state, keeping a record of each for backward.
    fn unroll(
        &self,
        batch: &Batch<T>,
        embedded: &Seq<T>,
        weights: &Layout<T>,
        memory: &PreparedMemory<T>,
        initial: &RnnState<T>,
        rng: &mut Rng,
    ) -> Unrolled<T> {
        let (hd, e) = (self.config.decoder_units, self.config.embedding);
        let time = batch.inputs.time;
        let active: Vec<usize> = (0..time).map(|t| batch.active(t)).collect();
        // The embeddings' share of the recurrent input projection does not depend on earlier
        // steps: it is taken for every step at once, rows stacked step after step, and a step
        // multiplies only the fed state.
        let mut x_ahead = Vec::with_capacity(batch.tokens() * e);
        for (t, &rows) in active.iter().enumerate() {
            (0..rows).for_each(|b| x_ahead.extend_from_slice(embedded.step(b, t)));
        }
        let stacked = x_ahead.len() / e;
        let mut projected = self.rnn.project_ahead(&weights.rnn, stacked, &x_ahead);
        let gh = projected.len() / stacked.max(1);
        let mut outputs = Seq::zeros_like(&batch.inputs, hd);
        let mut state = initial.clone();
        let feeding = self.config.input_feeding;
        let mut feed = vec![T::ZERO; if feeding { batch.inputs.batch * hd } else { 0 }];
        let mut records = Vec::with_capacity(time);
        let mut start = 0;
        for (t, &rows) in active.iter().enumerate() {
            state.h.truncate(rows * hd);
            let cell_rows = if self.config.has_cell_state() { rows * hd } else { 0 };
            state.c.truncate(cell_rows);
            feed.truncate(if feeding { rows * hd } else { 0 });
            let xw = &mut projected[start * gh..(start + rows) * gh];
            let step = self.step(weights, memory, xw, &feed, &state, Some(&mut *rng));
            start += rows;
            for b in 0..rows {
                outputs.step_mut(b, t).copy_from_slice(&step.out[b * hd..(b + 1) * hd]);
            }
            records.push(step.record.expect("training records"));
            state = step.rnn;
            if feeding {
                feed = step.out;
            }
        }
        Unrolled {
            active,
            x_ahead,
            outputs,
            records,
        }
    }

    /// The generator's loss over the real target steps of `outputs`: adds the generator's
    /// gradients and returns the gradient reaching `outputs`.
    fn generator_loss(
        &mut self,
        batch: &Batch<T>,
        outputs: &Seq<T>,
        label_smoothing: f64,
        scale: f64,
    ) -> (LossStats, Vec<T>) {
        let (v, time) = (self.config.target_vocab, batch.inputs.time);
        let logits = self.generator.forward(&outputs.data);
        let mut d_logits = vec![T::ZERO; logits.len()];
        let mut stats = LossStats::default();
        for b in 0..batch.inputs.batch {
            for t in 0..batch.inputs.lengths[b] {
                let r = b * time + t;
                let target = batch.targets[r] as usize;
                let row = &logits[r * v..(r + 1) * v];
                let d = &mut d_logits[r * v..(r + 1) * v];
                let (loss, correct) = smoothed_cross_entropy(row, target, label_smoothing, scale, d);
                stats.loss += loss;
                stats.tokens += 1;
                stats.correct += usize::from(correct);
            }
        }
        let mut d_outputs = vec![T::ZERO; outputs.data.len()];
        self.generator.backward(&outputs.data, &d_logits, &mut d_outputs);
        (stats, d_outputs)
    }

    /// Goes back through one step, `d_out` the gradient reaching its `h̃` from the generator:
    /// through dropout, `h̃ = tanh(W_out·[context; h])`, attention and the recurrent step.
    fn step_back(&mut self, record: StepRecord<T>, mut d_out: Vec<T>, memory: &PreparedMemory<T>, back: &mut Back<T>) {
        let (hd, mem) = (self.config.decoder_units, self.config.memory_width());
        let (rows, width) = (d_out.len() / hd, mem + hd);
        add(&mut d_out[..back.d_feed.len()], &back.d_feed);
        if let Some(m) = &record.mask {
            d_out.iter_mut().zip(m).for_each(|(d, &m)| *d *= m);
        }
        let d_pre: Vec<T> = d_out
            .iter()
            .zip(&record.state)
            .map(|(&d, &s)| d * (T::ONE - s * s))
            .collect();
        // h̃ = tanh(cat·W_outᵀ): d_cat = d_pre·W_out now, dW_out += d_preᵀ·cat after the loop.
        let mut d_cat = vec![T::ZERO; rows * width];
        matmul(
            rows,
            width,
            hd,
            &d_pre,
            hd,
            Transpose::No,
            &self.linear_out.weight.value,
            width,
            Transpose::No,
            &mut d_cat,
            width,
            false,
        );
        back.out_inputs.extend_from_slice(&record.cat);
        back.out_grads.extend_from_slice(&d_pre);
        let mut d_context = first_rows(memory.seq().batch, rows, mem);
        let mut dh = vec![T::ZERO; rows * hd];
        for b in 0..rows {
            d_context.data[b * mem..(b + 1) * mem].copy_from_slice(&d_cat[b * width..b * width + mem]);
            dh[b * hd..(b + 1) * hd].copy_from_slice(&d_cat[b * width + mem..(b + 1) * width]);
        }
        let d_query = self
            .attention
            .attend_backward(record.attention, d_context, memory, &mut back.memory);
        add(&mut dh, &d_query.data[..rows * hd]);
        add(&mut dh[..back.carry.h.len()], &back.carry.h);
        let mut dc = vec![T::ZERO; if self.config.has_cell_state() { rows * hd } else { 0 }];
        add(&mut dc[..back.carry.c.len()], &back.carry.c);
        let (dx, d_prev) = self.rnn.step_backward_deferred(record.rnn, &dh, &dc, &mut back.rnn);
        back.d_feed = dx;
        back.carry = d_prev;
    }

    /// Adds the recurrent step's weight gradients gathered over the steps and returns the
    /// gradient of the embedded inputs, `[batch, time, embedding]`.
    fn embedding_gradient(&mut self, unrolled: &Unrolled<T>, grads: StepGradients<T>, embedded: &Seq<T>) -> Seq<T> {
        let e = self.config.embedding;
        let active = &unrolled.active;
        // The embeddings' rows in the order the steps went back, for their share of the input
        // projection's gradients.
        let mut ahead_back = Vec::with_capacity(unrolled.x_ahead.len());
        let mut end = unrolled.x_ahead.len() / e;
        for &rows in active.iter().rev() {
            ahead_back.extend_from_slice(&unrolled.x_ahead[(end - rows) * e..end * e]);
            end -= rows;
        }
        let d_ahead = self.rnn.add_step_gradients(grads, &ahead_back);
        let mut d_embedded = Seq::zeros_like(embedded, e);
        let mut row = 0;
        for (t, &rows) in active.iter().enumerate().rev() {
            for b in 0..rows {
                d_embedded
                    .step_mut(b, t)
                    .copy_from_slice(&d_ahead[row * e..(row + 1) * e]);
                row += 1;
            }
        }
        d_embedded
    }

    /// `dW_out += d_preᵀ·cat` over every step at once.
    fn add_linear_out_gradient(&mut self, out_grads: &[T], out_inputs: &[T]) {
        let hd = self.config.decoder_units;
        let width = self.config.memory_width() + hd;
        matmul(
            hd,
            width,
            out_grads.len() / hd,
            out_grads,
            hd,
            Transpose::Yes,
            out_inputs,
            width,
            Transpose::No,
            &mut self.linear_out.weight.grad,
            width,
            true,
        );
    }
}

/// Cross-entropy of one row of logits against `target` with label smoothing `eps` spread over
/// every token but the target and PAD; writes `scale ×` its gradient into `d` and returns the
/// loss and whether the most probable token was the target.
///
/// This is OpenNMT's label smoothing, which the G2P reference was trained with; recur-train's
/// `SoftmaxCrossEntropy` follows PyTorch's and Keras's (`eps / classes` on every class, the
/// target included), a different distribution, so the two are kept apart on purpose.
fn smoothed_cross_entropy<T: Float>(row: &[T], target: usize, eps: f64, scale: f64, d: &mut [T]) -> (f64, bool) {
    let max = row.iter().map(|x| x.to_f64()).fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = row.iter().map(|x| (x.to_f64() - max).exp()).sum();
    let log_z = sum.ln() + max;
    let others = (row.len() - 1) as f64;
    let mut loss = 0.0;
    let mut best = 0;
    for (j, &x) in row.iter().enumerate() {
        let x = x.to_f64();
        if x > row[best].to_f64() {
            best = j;
        }
        let q = if j == target {
            1.0 - eps
        } else if j == PAD as usize {
            0.0
        } else {
            eps / (others - 1.0).max(1.0)
        };
        let p = (x - log_z).exp();
        loss -= q * (x - log_z);
        d[j] = T::from_f64(scale * (p - q));
    }
    (loss, best == target)
}
