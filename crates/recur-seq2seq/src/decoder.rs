//! The decoder's step — embed the previous token, one recurrent step, attention over the
//! encoder outputs, the attentional state `h̃ = tanh(W_out·[context; h])` — run under teacher
//! forcing for training ([`Seq2Seq::train_batch`], forward and backward side by side) and one
//! token at a time for search ([`Seq2Seq::start`], [`Seq2Seq::next`]).
//!
//! A training batch is sorted by target length, longest first, so the sequences still
//! decoding at step `t` are the batch's first rows: each step runs on that prefix alone, and
//! finished sequences neither change state nor receive gradient (the padding rule).

mod teacher;

use crate::model::Seq2Seq;
use crate::vocab::Vocab;
use recur_core::{matmul, Float, Rng, Seq, Transpose};
use recur_nn::dropout::inverted_mask;
use recur_nn::layer::transpose;
use recur_nn::{Ctx, Layer, NnError, PreparedMemory, RnnState, StepTape, StepWeights, Tape};

const PAD: u32 = Vocab::PAD;
const SOS: u32 = Vocab::SOS;
const EOS: u32 = Vocab::EOS;

/// A teacher-forcing batch, sorted by target length (longest first).
pub struct Batch<T> {
    /// Source ids `[batch, src_time, 1]`.
    pub source: Seq<T>,
    /// Decoder inputs `[batch, tgt_time, 1]`: SOS then the target.
    pub inputs: Seq<T>,
    /// Decoder targets `[batch · tgt_time]`: the target then EOS, PAD beyond.
    pub targets: Vec<u32>,
    /// The order of the pairs given to [`Batch::new`] that the rows follow.
    pub order: Vec<usize>,
}

impl<T: Float> Batch<T> {
    /// A batch of (source ids, target ids) pairs; each source needs at least one token.
    pub fn new(pairs: &[(&[u32], &[u32])]) -> Result<Self, NnError> {
        if let Some(i) = pairs.iter().position(|(s, _)| s.is_empty()) {
            return Err(NnError::Config(format!("pair {i} has an empty source")));
        }
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(pairs[i].1.len()));
        let ids = |rows: Vec<Vec<u32>>| -> Result<Seq<T>, NnError> {
            let time = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
            let mut data = vec![T::ZERO; rows.len() * time];
            for (b, r) in rows.iter().enumerate() {
                for (t, &id) in r.iter().enumerate() {
                    data[b * time + t] = T::from_f64(id as f64);
                }
            }
            let lengths = rows.iter().map(Vec::len).collect();
            Seq::new(data, rows.len(), time, 1, lengths).map_err(|e| NnError::Input(e.to_string()))
        };
        let source = ids(order.iter().map(|&i| pairs[i].0.to_vec()).collect())?;
        let inputs = ids(order
            .iter()
            .map(|&i| std::iter::once(SOS).chain(pairs[i].1.iter().copied()).collect())
            .collect())?;
        let mut targets = vec![PAD; inputs.batch * inputs.time];
        for (b, &i) in order.iter().enumerate() {
            let row = &mut targets[b * inputs.time..];
            row[..pairs[i].1.len()].copy_from_slice(pairs[i].1);
            row[pairs[i].1.len()] = EOS;
        }
        Ok(Batch {
            source,
            inputs,
            targets,
            order,
        })
    }

    /// Target tokens (EOS included) the loss is taken over.
    pub fn tokens(&self) -> usize {
        self.inputs.valid_steps()
    }

    /// Sequences still decoding at step `t` (the first rows).
    fn active(&self, t: usize) -> usize {
        self.inputs.lengths.iter().take_while(|&&l| l > t).count()
    }
}

/// Loss and accuracy of one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    /// Summed cross-entropy over the target tokens.
    pub loss: f64,
    /// Target tokens.
    pub tokens: usize,
    /// Tokens whose most probable prediction was right.
    pub correct: usize,
}

/// The decoder's state between steps: the recurrent state and the attentional state fed into
/// the next step (zeros before the first).
#[derive(Clone, Debug)]
pub struct DecoderState<T> {
    /// Recurrent `h` (and `c`), `[rows, decoder_units]`.
    pub rnn: RnnState<T>,
    /// Last attentional state `[rows, decoder_units]`.
    pub feed: Vec<T>,
    /// The decoder's units: the width of each row.
    pub units: usize,
}

impl<T: Float> DecoderState<T> {
    /// The state of the given rows, in that order (a beam keeping its best continuations).
    pub fn select(&self, rows: &[usize]) -> Self {
        let w = self.units;
        let pick = |v: &[T]| -> Vec<T> {
            if v.is_empty() {
                return Vec::new();
            }
            rows.iter()
                .flat_map(|&r| v[r * w..(r + 1) * w].iter().copied())
                .collect()
        };
        DecoderState {
            rnn: RnnState {
                h: pick(&self.rnn.h),
                c: pick(&self.rnn.c),
            },
            feed: pick(&self.feed),
            units: w,
        }
    }
}

/// What a search keeps for one batch of sources: their prepared encoder outputs and the
/// decoder's weights laid out for stepping.
pub struct Decoding<T> {
    memory: PreparedMemory<T>,
    weights: Layout<T>,
}

/// The decoder's weights laid out for its per-step products, read in place there instead of
/// re-packed on every call.
struct Layout<T> {
    rnn: StepWeights<T>,
    /// `linear_out` transposed, `[memory_width + decoder_units, decoder_units]`.
    out_t: Vec<T>,
}

/// What one training step's backward needs.
struct StepRecord<T> {
    rnn: StepTape<T>,
    attention: Tape,
    /// `[context; h]` per active row.
    cat: Vec<T>,
    /// `h̃` before dropout.
    state: Vec<T>,
    mask: Option<Vec<T>>,
}

/// One step's results.
struct StepOutput<T> {
    rnn: RnnState<T>,
    /// `h̃` after dropout, `[rows, decoder_units]`.
    out: Vec<T>,
    /// Attention weights `[memory batch, 1, src_time]` (zero beyond the active rows).
    weights: Seq<T>,
    record: Option<StepRecord<T>>,
}

impl<T: Float> Seq2Seq<T> {
    /// One decoder step for the first `rows` sequences of `memory`: `projected` is their
    /// embeddings' input projection (overwritten), `feed` the attentional state fed in (empty
    /// without input feeding), `state` their recurrent state. With `rng` it trains: dropout on
    /// `h̃` and a record for backward.
    fn step(
        &self,
        weights: &Layout<T>,
        memory: &PreparedMemory<T>,
        projected: &mut [T],
        feed: &[T],
        state: &RnnState<T>,
        rng: Option<&mut Rng>,
    ) -> StepOutput<T> {
        let (hd, mem) = (self.config.decoder_units, self.config.memory_width());
        let rows = state.h.len() / hd;
        let training = rng.is_some();
        let (next, rnn_tape) = if training {
            let (n, t) = self.rnn.step_train(&weights.rnn, projected, feed, state);
            (n, Some(t))
        } else {
            (self.rnn.step(&weights.rnn, projected, feed, state), None)
        };
        let mut queries = first_rows(memory.seq().batch, rows, hd);
        queries.data[..rows * hd].copy_from_slice(&next.h);
        let (context, attn_weights, attention) = self.attention.attend(&queries, memory, training);
        let width = mem + hd;
        let mut cat = vec![T::ZERO; rows * width];
        for b in 0..rows {
            cat[b * width..b * width + mem].copy_from_slice(&context.data[b * mem..(b + 1) * mem]);
            cat[b * width + mem..(b + 1) * width].copy_from_slice(&next.h[b * hd..(b + 1) * hd]);
        }
        let mut h_tilde = vec![T::ZERO; rows * hd];
        matmul(
            rows,
            hd,
            width,
            &cat,
            width,
            Transpose::No,
            &weights.out_t,
            hd,
            Transpose::No,
            &mut h_tilde,
            hd,
            false,
        );
        T::tanh_slice(&mut h_tilde);
        let rate = self.config.dropout;
        let mask = match rng {
            Some(rng) if rate > 0.0 => Some(inverted_mask(h_tilde.len(), rate, rng)),
            _ => None,
        };
        // Only training keeps h̃ apart from its dropped-out copy; search passes it on as is.
        let (out, record) = match rnn_tape {
            Some(rnn) => {
                let mut out = h_tilde.clone();
                if let Some(m) = &mask {
                    out.iter_mut().zip(m).for_each(|(o, &m)| *o *= m);
                }
                let record = StepRecord {
                    rnn,
                    attention,
                    cat,
                    state: h_tilde,
                    mask,
                };
                (out, Some(record))
            }
            None => (h_tilde, None),
        };
        StepOutput {
            rnn: next,
            out,
            weights: attn_weights,
            record,
        }
    }

    /// The weights laid out for stepping, the embeddings' share of the recurrent input
    /// projection taken apart (see [`Recurrent::project_ahead`](recur_nn::Recurrent::project_ahead)).
    fn layout(&self) -> Result<Layout<T>, NnError> {
        let (hd, width) = (
            self.config.decoder_units,
            self.config.memory_width() + self.config.decoder_units,
        );
        let mut out_t = vec![T::ZERO; width * hd];
        transpose(hd, width, &self.linear_out.weight.value, width, &mut out_t, hd);
        Ok(Layout {
            rnn: self.rnn.step_weights(self.config.embedding).map_err(NnError::Config)?,
            out_t,
        })
    }

    /// Encodes a batch of sources for search, each repeated `beams` times (row `b·beams + k`
    /// is beam `k` of source `b`), and returns the decoder's starting state for those rows.
    pub fn start(&self, source: Seq<T>, beams: usize) -> Result<(Decoding<T>, DecoderState<T>), NnError> {
        let mut rng = Rng::new(0);
        let mut ctx = Ctx::new(false, &mut rng);
        let encoded = self.encode(source, &mut ctx)?;
        let rows: Vec<usize> = (0..encoded.memory.batch)
            .flat_map(|b| std::iter::repeat_n(b, beams))
            .collect();
        let memory = select_rows(&encoded.memory, &rows);
        let hd = self.config.decoder_units;
        let state = DecoderState {
            rnn: encoded.initial.clone(),
            feed: vec![T::ZERO; encoded.memory.batch * hd],
            units: hd,
        }
        .select(&rows);
        let weights = self.layout()?;
        Ok((
            Decoding {
                memory: self.attention.prepare(memory),
                weights,
            },
            state,
        ))
    }

    /// One search step for every row of `decoding`: feeds `tokens` (one per row) and returns
    /// the log-probabilities of the next token `[rows, target_vocab]`, the new state and the
    /// attention weights `[rows, src_time]` (each row's real source steps).
    pub fn next(
        &self,
        decoding: &Decoding<T>,
        tokens: &[u32],
        state: &DecoderState<T>,
    ) -> (Vec<f64>, DecoderState<T>, Seq<T>) {
        let e = self.config.embedding;
        let rows = tokens.len();
        let table = &self.embedding.params()[0].value;
        let mut embedded = vec![T::ZERO; rows * e];
        for (b, &id) in tokens.iter().enumerate() {
            let id = (id as usize).min(self.config.target_vocab - 1);
            embedded[b * e..(b + 1) * e].copy_from_slice(&table[id * e..(id + 1) * e]);
        }
        let mut projected = self.rnn.project_ahead(&decoding.weights.rnn, rows, &embedded);
        let feed: &[T] = if self.config.input_feeding { &state.feed } else { &[] };
        let step = self.step(
            &decoding.weights,
            &decoding.memory,
            &mut projected,
            feed,
            &state.rnn,
            None,
        );
        let v = self.config.target_vocab;
        let logits = self.generator.forward(&step.out);
        let mut log_probs: Vec<f64> = logits.iter().map(|x| x.to_f64()).collect();
        for row in log_probs.chunks_exact_mut(v) {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let log_sum = row.iter().map(|&x| (x - max).exp()).sum::<f64>().ln() + max;
            row.iter_mut().for_each(|x| *x -= log_sum);
        }
        let next = DecoderState {
            rnn: step.rnn,
            feed: step.out,
            units: self.config.decoder_units,
        };
        (log_probs, next, step.weights)
    }
}

/// The given sequences of a batch, in that order.
fn select_rows<T: Float>(seq: &Seq<T>, rows: &[usize]) -> Seq<T> {
    let per = seq.time * seq.features;
    Seq {
        data: rows
            .iter()
            .flat_map(|&r| seq.data[r * per..(r + 1) * per].iter().copied())
            .collect(),
        batch: rows.len(),
        time: seq.time,
        features: seq.features,
        lengths: rows.iter().map(|&r| seq.lengths[r]).collect(),
        sequential: seq.sequential,
    }
}

/// A batch of `batch` zero vectors `width` wide of which the first `rows` are real (the
/// sequences still decoding): a step's queries, or their context's gradient.
fn first_rows<T: Float>(batch: usize, rows: usize, width: usize) -> Seq<T> {
    Seq {
        data: vec![T::ZERO; batch * width],
        batch,
        time: 1,
        features: width,
        lengths: (0..batch).map(|b| usize::from(b < rows)).collect(),
        sequential: false,
    }
}
