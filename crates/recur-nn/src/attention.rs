//! Attention of a decoder over an encoder's outputs (Luong `dot` and `general`, Bahdanau
//! `additive`), for a padded batch of queries over a padded batch of memories.
//!
//! For each real query step `q` of sequence `b`, a score `s_j` is computed against every real
//! memory step `m_j` of the same sequence, the weights `a = softmax(s)` are taken over the real
//! memory steps only (padded ones get exactly zero weight, and so zero gradient), and the
//! context is `Σ_j a_j m_j`. Padded query steps get a zero context and zero weights.
//!
//! The scores and parameter names follow OpenNMT-py's `GlobalAttention`, a PyTorch module:
//! - `dot`: `s = q·m` (query and memory of one width);
//! - `general`: `s = linear_in(q)·m`, `linear_in` a bias-free `Linear(q_dim, mem_dim)`, so its
//!   `weight` is `[mem_dim, q_dim]` as PyTorch stores it;
//! - `additive`: `s = v(tanh(linear_query(q) + linear_context(m)))`, with `linear_query` a
//!   `Linear(q_dim, units)`, `linear_context` a bias-free `Linear(mem_dim, units)` and `v` a
//!   bias-free `Linear(units, 1)` (OpenNMT's `mlp`, with its width `units` free).
//!
//! OpenNMT's `linear_out` (the attentional state `tanh(W[c; q])`) is not part of this module:
//! it is a dense layer over the concatenated context and query, which the decoder owns.
//!
//! A decoder that attends step by step (input feeding, greedy or beam search) prepares the
//! memory once ([`Attention::prepare`], which projects it for `general` and `additive`), calls
//! [`Attention::attend`] with one query per sequence ([`Seq::vectors`], `[batch, q_dim]`; the
//! context comes back as vectors `[batch, mem_dim]` and the weights as `[batch, src_time]`),
//! and in training sums the memory's gradient over the steps ([`Attention::attend_backward`]
//! into a [`MemoryGrad`], then [`Attention::finish`]).

use crate::error::{NnError, Result};
use crate::init;
use crate::layer::{linear, linear_backward, Param, Tape};
use recur_core::{matmul, Float, Rng, Seq, Transpose};

/// How a query is scored against a memory step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttentionKind {
    /// Luong's `q·m`.
    Dot,
    /// Luong's `q·Wᵀ·m` with a learnt `W` (`linear_in`).
    General,
    /// Bahdanau's `vᵀ tanh(W_q q + b + W_m m)`.
    Additive,
}

impl AttentionKind {
    /// The kind a config names: `dot`, `general` or `additive`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "dot" => Some(AttentionKind::Dot),
            "general" => Some(AttentionKind::General),
            "additive" => Some(AttentionKind::Additive),
            _ => None,
        }
    }

    /// The name a config uses.
    pub fn name(self) -> &'static str {
        match self {
            AttentionKind::Dot => "dot",
            AttentionKind::General => "general",
            AttentionKind::Additive => "additive",
        }
    }
}

/// The learnt tensors of each kind of score.
// A model holds one or two of these, so the unboxed variants cost nothing worth an indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Score<T> {
    Dot,
    General {
        linear_in: Param<T>,
    },
    Additive {
        query: Param<T>,
        query_bias: Param<T>,
        context: Param<T>,
        v: Param<T>,
    },
}

/// Attention over a padded batch of encoder outputs; see the module docs.
#[derive(Clone)]
pub struct Attention<T> {
    score: Score<T>,
    q_dim: usize,
    mem_dim: usize,
}

/// Encoder outputs prepared by [`Attention::prepare`] for attention step by step.
pub struct PreparedMemory<T> {
    seq: Seq<T>,
    /// What each query is scored against, `[batch·src_time, width]`: for `general` the memory
    /// through `linear_in` transposed (`m·W`, `q_dim` wide, so that `q·(m·W) = linear_in(q)·m`
    /// costs one projection per source step rather than one per query); for `additive`
    /// `linear_context(memory)` (`units` wide); empty for `dot`, which scores the memory itself.
    keys: Vec<T>,
}

impl<T> PreparedMemory<T> {
    /// The encoder outputs.
    pub fn seq(&self) -> &Seq<T> {
        &self.seq
    }
}

/// The gradient of a [`PreparedMemory`], summed over the steps that attended to it.
pub struct MemoryGrad<T> {
    d_memory: Seq<T>,
    /// The gradient of [`PreparedMemory`]'s keys, which [`Attention::finish`] carries to the memory.
    d_keys: Vec<T>,
}

/// What one attention call's backward needs besides its memory.
struct StepTape<T> {
    queries: Seq<T>,
    weights: Seq<T>,
    /// `additive`: the `tanh` activations `[batch, tgt_time, src_time, units]`; otherwise empty.
    hidden: Vec<T>,
}

/// What [`Attention::forward`] leaves for [`Attention::backward`]: the step and its memory.
struct WholeTape<T> {
    step: StepTape<T>,
    memory: PreparedMemory<T>,
}

impl<T: Float> Attention<T> {
    /// An attention of `kind` for queries `q_dim` wide over memory `mem_dim` wide; `units` is
    /// the width of the additive score's hidden layer (ignored by the other kinds). Weights are
    /// Glorot-uniform, the additive bias zero.
    pub fn new(kind: AttentionKind, q_dim: usize, mem_dim: usize, units: usize, rng: &mut Rng) -> Result<Self> {
        if q_dim == 0 || mem_dim == 0 {
            return Err(NnError::Config(format!(
                "attention needs queries and memory at least one feature wide, got {q_dim} and {mem_dim}"
            )));
        }
        let score = match kind {
            AttentionKind::Dot if q_dim != mem_dim => {
                return Err(NnError::Config(format!(
                    "dot attention needs queries as wide as the memory, got {q_dim} and {mem_dim} \
                     (use general or additive attention)"
                )))
            }
            AttentionKind::Dot => Score::Dot,
            AttentionKind::General => Score::General {
                linear_in: Param::new(
                    "linear_in.weight",
                    &[mem_dim, q_dim],
                    init::glorot_uniform(mem_dim, q_dim, mem_dim * q_dim, rng),
                ),
            },
            AttentionKind::Additive if units == 0 => {
                return Err(NnError::Config("additive attention needs units of at least 1".into()))
            }
            AttentionKind::Additive => Score::Additive {
                query: Param::new(
                    "linear_query.weight",
                    &[units, q_dim],
                    init::glorot_uniform(units, q_dim, units * q_dim, rng),
                ),
                query_bias: Param::new("linear_query.bias", &[units], vec![T::ZERO; units]),
                context: Param::new(
                    "linear_context.weight",
                    &[units, mem_dim],
                    init::glorot_uniform(units, mem_dim, units * mem_dim, rng),
                ),
                v: Param::new("v.weight", &[1, units], init::glorot_uniform(1, units, units, rng)),
            },
        };
        Ok(Attention { score, q_dim, mem_dim })
    }

    /// The kind of score.
    pub fn kind(&self) -> AttentionKind {
        match self.score {
            Score::Dot => AttentionKind::Dot,
            Score::General { .. } => AttentionKind::General,
            Score::Additive { .. } => AttentionKind::Additive,
        }
    }

    /// Width of a query.
    pub fn q_dim(&self) -> usize {
        self.q_dim
    }

    /// Width of a memory step, and so of the context.
    pub fn mem_dim(&self) -> usize {
        self.mem_dim
    }

    /// Width of the additive score's hidden layer (0 for the other kinds).
    pub fn units(&self) -> usize {
        match &self.score {
            Score::Additive { query_bias, .. } => query_bias.len(),
            _ => 0,
        }
    }

    /// Checks that `queries` and `memory` fit this attention and each other; [`forward`]
    /// relies on it (a graph checks widths when it is built and batches when it runs).
    ///
    /// [`forward`]: Attention::forward
    pub fn check_inputs(&self, queries: &Seq<T>, memory: &Seq<T>) -> std::result::Result<(), String> {
        if queries.features != self.q_dim {
            return Err(format!(
                "attention takes queries of {} features, got {}",
                self.q_dim, queries.features
            ));
        }
        if memory.features != self.mem_dim {
            return Err(format!(
                "attention takes memory of {} features, got {}",
                self.mem_dim, memory.features
            ));
        }
        if queries.batch != memory.batch {
            return Err(format!(
                "attention needs one memory per query sequence, got {} query sequences and {} memories",
                queries.batch, memory.batch
            ));
        }
        Ok(())
    }

    /// The context vectors (`[batch, tgt_time, mem_dim]`, shaped and padded like `queries`),
    /// the attention weights (`[batch, tgt_time, src_time]`, for inspection: no gradient flows
    /// back from them) and, when `training`, the tape for [`backward`].
    ///
    /// Panics when [`check_inputs`] fails: a caller's bug, not bad data.
    ///
    /// [`backward`]: Attention::backward
    /// [`check_inputs`]: Attention::check_inputs
    pub fn forward(&self, queries: &Seq<T>, memory: &Seq<T>, training: bool) -> (Seq<T>, Seq<T>, Tape) {
        let memory = self.prepare(memory.clone());
        let (context, weights, step) = self.attend_inner(queries, &memory, training);
        let tape = match step {
            Some(step) => Tape::new(WholeTape { step, memory }),
            None => Tape::empty(),
        };
        (context, weights, tape)
    }

    /// Back-propagates through the [`forward`] call that made `tape`, given the gradient of
    /// the loss with respect to the context; adds the parameter gradients into each
    /// [`Param::grad`] and returns the gradients of the queries and of the memory (zero at
    /// padded steps).
    ///
    /// [`forward`]: Attention::forward
    pub fn backward(&mut self, tape: Tape, d_context: Seq<T>) -> (Seq<T>, Seq<T>) {
        let WholeTape { step, memory } = tape.take("attention");
        let mut grad = self.memory_grad(&memory);
        let d_queries = self.attend_backward_inner(step, d_context, &memory, &mut grad);
        (d_queries, self.finish(&memory, grad))
    }

    /// Prepares encoder outputs for attention step by step: the memory and, for `general` and
    /// `additive`, its projection, computed once and reused by every [`attend`] call.
    ///
    /// [`attend`]: Attention::attend
    pub fn prepare(&self, memory: Seq<T>) -> PreparedMemory<T> {
        let keys = match &self.score {
            Score::Dot => Vec::new(),
            Score::General { linear_in } => {
                let (rows, qd, md) = (memory.batch * memory.time, self.q_dim, self.mem_dim);
                let mut keys = vec![T::ZERO; rows * qd];
                matmul(
                    rows,
                    qd,
                    md,
                    &memory.data,
                    md,
                    Transpose::No,
                    &linear_in.value,
                    qd,
                    Transpose::No,
                    &mut keys,
                    qd,
                    false,
                );
                keys
            }
            Score::Additive { context, .. } => linear(&memory.data, self.mem_dim, &context.value, self.units(), None),
        };
        PreparedMemory { seq: memory, keys }
    }

    /// [`forward`] over a prepared memory: what a decoder calls at each step, with the
    /// queries as [`Seq::vectors`]. Its backward is [`attend_backward`].
    ///
    /// [`forward`]: Attention::forward
    /// [`attend_backward`]: Attention::attend_backward
    pub fn attend(&self, queries: &Seq<T>, memory: &PreparedMemory<T>, training: bool) -> (Seq<T>, Seq<T>, Tape) {
        let (context, weights, step) = self.attend_inner(queries, memory, training);
        (context, weights, step.map_or_else(Tape::empty, Tape::new))
    }

    /// A zero gradient for `memory`, which each [`attend_backward`] accumulates into and
    /// [`finish`] turns into the memory's gradient.
    ///
    /// [`attend_backward`]: Attention::attend_backward
    /// [`finish`]: Attention::finish
    pub fn memory_grad(&self, memory: &PreparedMemory<T>) -> MemoryGrad<T> {
        MemoryGrad {
            d_memory: Seq::zeros_like(&memory.seq, self.mem_dim),
            d_keys: vec![T::ZERO; memory.keys.len()],
        }
    }

    /// Back-propagates through the [`attend`] call that made `tape`: adds the parameter
    /// gradients, accumulates the memory's into `grad` and returns the queries' gradient.
    ///
    /// [`attend`]: Attention::attend
    pub fn attend_backward(
        &mut self,
        tape: Tape,
        d_context: Seq<T>,
        memory: &PreparedMemory<T>,
        grad: &mut MemoryGrad<T>,
    ) -> Seq<T> {
        self.attend_backward_inner(tape.take("attention"), d_context, memory, grad)
    }

    /// The gradient of the memory once every step that attended to it has gone back through
    /// [`attend_backward`] (for `general` and `additive`, this is where the gradient of the
    /// memory's projection lands).
    ///
    /// [`attend_backward`]: Attention::attend_backward
    pub fn finish(&mut self, memory: &PreparedMemory<T>, grad: MemoryGrad<T>) -> Seq<T> {
        let MemoryGrad { mut d_memory, d_keys } = grad;
        let (rows, qd, md) = (d_memory.batch * d_memory.time, self.q_dim, self.mem_dim);
        if let Score::General { linear_in } = &mut self.score {
            // keys = m·W, so dW += mᵀ·d_keys and d_m += d_keys·Wᵀ.
            matmul(
                md,
                qd,
                rows,
                &memory.seq.data,
                md,
                Transpose::Yes,
                &d_keys,
                qd,
                Transpose::No,
                &mut linear_in.grad,
                qd,
                true,
            );
            matmul(
                rows,
                md,
                qd,
                &d_keys,
                qd,
                Transpose::No,
                &linear_in.value,
                qd,
                Transpose::Yes,
                &mut d_memory.data,
                md,
                true,
            );
        }
        if let Score::Additive { context, .. } = &mut self.score {
            let units = context.shape[0];
            linear_backward(
                &memory.seq.data,
                self.mem_dim,
                &d_keys,
                units,
                context,
                None,
                &mut d_memory.data,
            );
        }
        d_memory
    }

    /// The context, the weights and, when `training`, what backward needs.
    fn attend_inner(
        &self,
        queries: &Seq<T>,
        memory: &PreparedMemory<T>,
        training: bool,
    ) -> (Seq<T>, Seq<T>, Option<StepTape<T>>) {
        let memory_seq = &memory.seq;
        if let Err(e) = self.check_inputs(queries, memory_seq) {
            panic!("{e}");
        }
        let (qt, mt, md) = (queries.time, memory_seq.time, self.mem_dim);
        let mut weights = Seq::zeros_like(queries, mt);
        let hidden = self.scores(queries, memory, &mut weights.data);
        for b in 0..queries.batch {
            let n_m = memory_seq.lengths[b];
            for i in 0..queries.lengths[b] {
                softmax(&mut weights.data[(b * qt + i) * mt..][..n_m]);
            }
        }
        let mut context = Seq::zeros_like(queries, md);
        for b in 0..queries.batch {
            let (n_q, n_m) = (queries.lengths[b], memory_seq.lengths[b]);
            if n_q == 0 || n_m == 0 {
                continue;
            }
            matmul(
                n_q,
                md,
                n_m,
                &weights.data[b * qt * mt..],
                mt,
                Transpose::No,
                &memory_seq.data[b * mt * md..],
                md,
                Transpose::No,
                &mut context.data[b * qt * md..],
                md,
                false,
            );
        }
        let step = training.then(|| StepTape {
            queries: queries.clone(),
            weights: weights.clone(),
            hidden,
        });
        (context, weights, step)
    }

    /// Writes the raw scores of every real (query, memory) pair into `scores`
    /// (`[batch, tgt_time, src_time]`, the rest left zero) and returns what backward needs of
    /// the score's hidden values.
    fn scores(&self, queries: &Seq<T>, memory: &PreparedMemory<T>, scores: &mut [T]) -> Vec<T> {
        let memory_seq = &memory.seq;
        let (qt, mt, qd) = (queries.time, memory_seq.time, self.q_dim);
        // Luong scores are one GEMM per sequence against the memory or its projection.
        let luong = |keys: &[T], scores: &mut [T]| {
            for b in 0..queries.batch {
                let (n_q, n_m) = (queries.lengths[b], memory_seq.lengths[b]);
                if n_q == 0 || n_m == 0 {
                    continue;
                }
                matmul(
                    n_q,
                    n_m,
                    qd,
                    &queries.data[b * qt * qd..],
                    qd,
                    Transpose::No,
                    &keys[b * mt * qd..],
                    qd,
                    Transpose::Yes,
                    &mut scores[b * qt * mt..],
                    mt,
                    false,
                );
            }
        };
        match &self.score {
            Score::Dot => {
                luong(&memory_seq.data, scores);
                Vec::new()
            }
            Score::General { .. } => {
                luong(&memory.keys, scores);
                Vec::new()
            }
            Score::Additive {
                query, query_bias, v, ..
            } => {
                let units = query_bias.len();
                let pq = linear(&queries.data, qd, &query.value, units, Some(&query_bias.value));
                let pm = &memory.keys;
                let mut hidden = vec![T::ZERO; queries.batch * qt * mt * units];
                for b in 0..queries.batch {
                    for i in 0..queries.lengths[b] {
                        let q_row = &pq[(b * qt + i) * units..][..units];
                        for j in 0..memory_seq.lengths[b] {
                            let at = (b * qt + i) * mt + j;
                            let h = &mut hidden[at * units..][..units];
                            let m_row = &pm[(b * mt + j) * units..][..units];
                            h.iter_mut().zip(q_row).zip(m_row).for_each(|((h, &a), &c)| *h = a + c);
                            T::tanh_slice(h);
                            scores[at] = h.iter().zip(&v.value).map(|(&h, &w)| h * w).sum();
                        }
                    }
                }
                hidden
            }
        }
    }

    /// The backward of [`Attention::attend_inner`].
    fn attend_backward_inner(
        &mut self,
        tape: StepTape<T>,
        d_context: Seq<T>,
        memory: &PreparedMemory<T>,
        grad: &mut MemoryGrad<T>,
    ) -> Seq<T> {
        let StepTape {
            queries,
            weights,
            hidden,
        } = tape;
        let d_scores = self.score_gradient(&queries, &weights, &d_context, &memory.seq, &mut grad.d_memory.data);
        let back = ScoreBack {
            queries: &queries,
            memory: &memory.seq,
            d_scores: &d_scores,
        };
        let mut d_queries = Seq::zeros_like(&queries, self.q_dim);
        match &mut self.score {
            Score::Dot => back.luong(&memory.seq.data, &mut d_queries.data, &mut grad.d_memory.data),
            Score::General { .. } => back.luong(&memory.keys, &mut d_queries.data, &mut grad.d_keys),
            Score::Additive {
                query, query_bias, v, ..
            } => {
                let d_pq = back.additive(&hidden, v, &mut grad.d_keys);
                let units = query_bias.len();
                linear_backward(
                    &queries.data,
                    self.q_dim,
                    &d_pq,
                    units,
                    query,
                    Some(query_bias),
                    &mut d_queries.data,
                );
            }
        }
        d_queries
    }

    /// Back through `context = weights·memory` and the softmax: adds the memory's share to
    /// `d_memory` and returns the gradient of the raw scores, laid out like the weights.
    fn score_gradient(
        &self,
        queries: &Seq<T>,
        weights: &Seq<T>,
        d_context: &Seq<T>,
        memory: &Seq<T>,
        d_memory: &mut [T],
    ) -> Vec<T> {
        let (qt, mt, md) = (queries.time, memory.time, self.mem_dim);
        let mut d_scores = vec![T::ZERO; weights.data.len()];
        for b in 0..queries.batch {
            let (n_q, n_m) = (queries.lengths[b], memory.lengths[b]);
            if n_q == 0 || n_m == 0 {
                continue;
            }
            let d_c = &d_context.data[b * qt * md..];
            let a = &weights.data[b * qt * mt..];
            matmul(
                n_q,
                n_m,
                md,
                d_c,
                md,
                Transpose::No,
                &memory.data[b * mt * md..],
                md,
                Transpose::Yes,
                &mut d_scores[b * qt * mt..],
                mt,
                false,
            );
            matmul(
                n_m,
                md,
                n_q,
                a,
                mt,
                Transpose::Yes,
                d_c,
                md,
                Transpose::No,
                &mut d_memory[b * mt * md..],
                md,
                true,
            );
            // Softmax backward over each query's real memory steps.
            for i in 0..n_q {
                let a_row = &a[i * mt..][..n_m];
                let d_row = &mut d_scores[(b * qt + i) * mt..][..n_m];
                let dot: T = a_row.iter().zip(d_row.iter()).map(|(&a, &d)| a * d).sum();
                d_row.iter_mut().zip(a_row).for_each(|(d, &a)| *d = a * (*d - dot));
            }
        }
        d_scores
    }

    /// The learnt tensors, named as in the PyTorch module (none for `dot`).
    pub fn params(&self) -> Vec<&Param<T>> {
        match &self.score {
            Score::Dot => Vec::new(),
            Score::General { linear_in } => vec![linear_in],
            Score::Additive {
                query,
                query_bias,
                context,
                v,
            } => vec![query, query_bias, context, v],
        }
    }

    /// The learnt tensors, mutable, in the order of [`Attention::params`].
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        match &mut self.score {
            Score::Dot => Vec::new(),
            Score::General { linear_in } => vec![linear_in],
            Score::Additive {
                query,
                query_bias,
                context,
                v,
            } => vec![query, query_bias, context, v],
        }
    }
}

/// In-place softmax of one row of scores (the real memory steps only).
fn softmax<T: Float>(row: &mut [T]) {
    let Some(max) = row.iter().copied().reduce(T::max) else {
        return;
    };
    let mut sum = T::ZERO;
    for s in row.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    row.iter_mut().for_each(|s| *s /= sum);
}

/// What going back through the scores reads: the step's queries, the memory and the scores'
/// gradient (`[batch, tgt_time, src_time]`).
struct ScoreBack<'a, T> {
    queries: &'a Seq<T>,
    memory: &'a Seq<T>,
    d_scores: &'a [T],
}

impl<T: Float> ScoreBack<'_, T> {
    /// Luong scores are `q·keysᵀ` per sequence, so `d_q = d_s·keys` (written to `d_queries`)
    /// and `d_keys += d_sᵀ·q`.
    fn luong(&self, keys: &[T], d_queries: &mut [T], d_keys: &mut [T]) {
        let (qt, mt, qd) = (self.queries.time, self.memory.time, self.queries.features);
        for b in 0..self.queries.batch {
            let (n_q, n_m) = (self.queries.lengths[b], self.memory.lengths[b]);
            if n_q == 0 || n_m == 0 {
                continue;
            }
            let d_s = &self.d_scores[b * qt * mt..];
            matmul(
                n_q,
                qd,
                n_m,
                d_s,
                mt,
                Transpose::No,
                &keys[b * mt * qd..],
                qd,
                Transpose::No,
                &mut d_queries[b * qt * qd..],
                qd,
                false,
            );
            matmul(
                n_m,
                qd,
                n_q,
                d_s,
                mt,
                Transpose::Yes,
                &self.queries.data[b * qt * qd..],
                qd,
                Transpose::No,
                &mut d_keys[b * mt * qd..],
                qd,
                true,
            );
        }
    }

    /// Additive scores are `v·tanh(Wq·q + Wc·m)` over the kept `hidden` tanh values: adds `v`'s
    /// gradient and the memory projection's to `d_keys`, and returns the gradient of the query
    /// projection `Wq·q`, `[batch·tgt_time, units]`.
    fn additive(&self, hidden: &[T], v: &mut Param<T>, d_keys: &mut [T]) -> Vec<T> {
        let (qt, mt, units) = (self.queries.time, self.memory.time, v.value.len());
        let mut d_pq = vec![T::ZERO; self.queries.batch * qt * units];
        let mut d_z = vec![T::ZERO; units];
        for b in 0..self.queries.batch {
            for i in 0..self.queries.lengths[b] {
                for j in 0..self.memory.lengths[b] {
                    let at = (b * qt + i) * mt + j;
                    let (g, h) = (self.d_scores[at], &hidden[at * units..][..units]);
                    for u in 0..units {
                        v.grad[u] += g * h[u];
                        d_z[u] = g * v.value[u] * (T::ONE - h[u] * h[u]);
                    }
                    let d_q_row = &mut d_pq[(b * qt + i) * units..][..units];
                    d_q_row.iter_mut().zip(&d_z).for_each(|(d, &z)| *d += z);
                    let d_m_row = &mut d_keys[(b * mt + j) * units..][..units];
                    d_m_row.iter_mut().zip(&d_z).for_each(|(d, &z)| *d += z);
                }
            }
        }
        d_pq
    }
}

#[cfg(test)]
mod tests;
