//! Turning the decoder into outputs: batched beam search on the step API (every beam of every
//! source is one row of one batch, so all share the weights and each step is one product),
//! with GNMT's length normalisation and an n-best list. A beam of one is greedy decoding.

use crate::model::Seq2Seq;
use crate::vocab::Vocab;
use recur_core::parallel::run_on_workers;
use recur_core::{Float, Seq};
use recur_nn::NnError;

/// How a search runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchOptions {
    /// Hypotheses kept alive per source (1: greedy).
    pub beam: usize,
    /// Finished hypotheses returned per source (at most `beam`).
    pub nbest: usize,
    /// GNMT length-penalty exponent α: scores are `log P / ((5 + |Y|) / 6)^α` (0: raw log P).
    pub alpha: f64,
    /// Output tokens at most (EOS not counted); a hypothesis still open then is returned as is.
    pub max_len: usize,
    /// Keep each output step's attention weights.
    pub attention: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            beam: 5,
            nbest: 1,
            alpha: 0.6,
            max_len: 100,
            attention: false,
        }
    }
}

/// One output of a search.
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    /// Output ids, EOS excluded.
    pub tokens: Vec<u32>,
    /// Summed log-probability of the tokens and the EOS.
    pub log_prob: f64,
    /// The length-normalised score hypotheses are ranked by.
    pub score: f64,
    /// Per output step (EOS included), the weights over the source tokens (when asked for).
    pub attention: Vec<Vec<f32>>,
}

/// An open hypothesis: its tokens, summed log-probability and attention so far.
#[derive(Clone)]
struct Open {
    tokens: Vec<u32>,
    log_prob: f64,
    attention: Vec<Vec<f32>>,
}

fn normalised(log_prob: f64, steps: usize, alpha: f64) -> f64 {
    log_prob / ((5.0 + steps as f64) / 6.0).powf(alpha)
}

/// Searches for the best outputs of each source (ids without SOS/EOS); returns for each its
/// hypotheses, best first.
pub fn search<T: Float>(
    model: &Seq2Seq<T>,
    sources: &[Vec<u32>],
    options: &SearchOptions,
) -> Result<Vec<Vec<Hypothesis>>, NnError> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let mut beams = Beams::new(sources, options);
    let (decoding, mut state) = model.start(source_batch(sources)?, beams.k)?;
    let v = model.config().target_vocab;
    for step in 0..=options.max_len {
        let (log_probs, next, weights) = model.next(&decoding, &beams.last_tokens(), &state);
        let mut next_beams = NextBeams::default();
        for b in 0..sources.len() {
            let candidates = beams.candidates(b, &log_probs, v);
            beams.advance(b, step, &candidates, &weights, &mut next_beams);
        }
        if beams.done.iter().all(|&d| d) {
            break;
        }
        state = next.select(&next_beams.rows);
        beams.open = next_beams.open;
    }
    Ok(beams.best(options.nbest))
}

/// The sources as one padded batch of ids, `[n, longest, 1]`.
fn source_batch<T: Float>(sources: &[Vec<u32>]) -> Result<Seq<T>, NnError> {
    if let Some(i) = sources.iter().position(Vec::is_empty) {
        return Err(NnError::Input(format!("source {i} is empty")));
    }
    let (n, time) = (sources.len(), sources.iter().map(Vec::len).max().unwrap_or(1));
    let mut data = vec![T::ZERO; n * time];
    for (b, s) in sources.iter().enumerate() {
        for (t, &id) in s.iter().enumerate() {
            data[b * time + t] = T::from_f64(id as f64);
        }
    }
    Seq::new(data, n, time, 1, sources.iter().map(Vec::len).collect()).map_err(|e| NnError::Input(e.to_string()))
}

/// The beams of every source during a search: row `b·k + j` is beam `j` of source `b`.
struct Beams<'a> {
    /// Beams per source.
    k: usize,
    options: &'a SearchOptions,
    sources: &'a [Vec<u32>],
    /// The open hypothesis of each row (`None`: a dead row kept so the batch keeps its shape).
    open: Vec<Option<Open>>,
    finished: Vec<Vec<Hypothesis>>,
    /// Sources whose search has ended.
    done: Vec<bool>,
}

/// The rows the next step runs: which row of this step each continues, and its hypothesis.
#[derive(Default)]
struct NextBeams {
    rows: Vec<usize>,
    open: Vec<Option<Open>>,
}

/// A possible next hypothesis: its summed log-probability, the row it extends and its token.
type Candidate = (f64, usize, u32);

impl<'a> Beams<'a> {
    fn new(sources: &'a [Vec<u32>], options: &'a SearchOptions) -> Self {
        let (n, k) = (sources.len(), options.beam.max(1));
        // At first only beam 0 is alive, so the k rows (identical) do not fill the beam with
        // copies of one hypothesis.
        let open = (0..n * k)
            .map(|r| {
                (r % k == 0).then(|| Open {
                    tokens: Vec::new(),
                    log_prob: 0.0,
                    attention: Vec::new(),
                })
            })
            .collect();
        Beams {
            k,
            options,
            sources,
            open,
            finished: vec![Vec::new(); n],
            done: vec![false; n],
        }
    }

    /// Each row's last token, the next step's input (SOS at the start and on dead rows).
    fn last_tokens(&self) -> Vec<u32> {
        self.open
            .iter()
            .map(|o| o.as_ref().and_then(|o| o.tokens.last().copied()).unwrap_or(Vocab::SOS))
            .collect()
    }

    /// Every extension of source `b`'s open beams by one token, best first (ties: lower row,
    /// then lower id); `log_probs` is `[rows, v]`.
    fn candidates(&self, b: usize, log_probs: &[f64], v: usize) -> Vec<Candidate> {
        let mut candidates = Vec::new();
        if self.done[b] {
            return candidates;
        }
        for r in b * self.k..(b + 1) * self.k {
            let Some(o) = &self.open[r] else { continue };
            for (id, &lp) in log_probs[r * v..(r + 1) * v].iter().enumerate() {
                // Specials other than EOS are never outputs.
                if id != Vocab::EOS as usize && id < 4 {
                    continue;
                }
                candidates.push((o.log_prob + lp, r, id as u32));
            }
        }
        candidates.sort_by(|a, c| c.0.total_cmp(&a.0).then(a.1.cmp(&c.1)).then(a.2.cmp(&c.2)));
        candidates
    }

    /// Moves source `b` one step on: the best candidates end (EOS, or the length limit) or
    /// stay open in `next`, which always gets `k` rows for the source.
    fn advance<T: Float>(
        &mut self,
        b: usize,
        step: usize,
        candidates: &[Candidate],
        weights: &Seq<T>,
        next: &mut NextBeams,
    ) {
        let k = self.k;
        let mut alive = 0;
        for (rank, &(log_prob, r, id)) in candidates.iter().take(2 * k).enumerate() {
            // An ending outside the best k would not have been in the beam (as in Hugging
            // Face's beam search): without this, a beam of one would stop at the second-best
            // token whenever that is EOS.
            if id == Vocab::EOS && rank >= k {
                continue;
            }
            let o = self.open[r].as_ref().expect("candidates come from open rows");
            let mut attention = o.attention.clone();
            if self.options.attention {
                let w = &weights.data[r * weights.features..][..self.sources[b].len()];
                attention.push(w.iter().map(|x| x.to_f64() as f32).collect());
            }
            if id == Vocab::EOS || step == self.options.max_len {
                if self.finished[b].len() < k {
                    let score = normalised(log_prob, o.tokens.len() + 1, self.options.alpha);
                    let mut tokens = o.tokens.clone();
                    if id != Vocab::EOS {
                        tokens.push(id);
                    }
                    self.finished[b].push(Hypothesis {
                        score,
                        tokens,
                        log_prob,
                        attention,
                    });
                }
            } else if alive < k {
                let mut tokens = o.tokens.clone();
                tokens.push(id);
                next.rows.push(r);
                next.open.push(Some(Open {
                    tokens,
                    log_prob,
                    attention,
                }));
                alive += 1;
            }
        }
        self.done[b] |= self.finished[b].len() >= k || alive == 0;
        // Rows without a hypothesis keep running (dead) so the batch keeps its shape.
        for _ in alive..k {
            next.rows.push(b * k);
            next.open.push(None);
        }
        if self.done[b] {
            let start = next.open.len() - k;
            next.open[start..].iter_mut().for_each(|o| *o = None);
        }
    }

    /// Each source's `nbest` finished hypotheses, best first.
    fn best(self, nbest: usize) -> Vec<Vec<Hypothesis>> {
        self.finished
            .into_iter()
            .map(|mut hyps| {
                hyps.sort_by(|a, b| b.score.total_cmp(&a.score));
                hyps.truncate(nbest.max(1));
                hyps
            })
            .collect()
    }
}

/// [`search`] over many sources: chunks of similar length, spread over `threads`.
pub fn decode_parallel(
    model: &Seq2Seq<f32>,
    sources: &[Vec<u32>],
    options: &SearchOptions,
    threads: usize,
) -> Result<Vec<Vec<Hypothesis>>, NnError> {
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| sources[i].len());
    let chunk = (256 / options.beam.max(1)).max(8);
    let chunks: Vec<&[usize]> = order.chunks(chunk).collect();
    let mut workers: Vec<Vec<(usize, Vec<Hypothesis>)>> = vec![Vec::new(); threads.max(1)];
    let results = run_on_workers(&mut workers, |w, out| -> Result<(), NnError> {
        for c in chunks.iter().skip(w).step_by(threads.max(1)) {
            let batch: Vec<Vec<u32>> = c.iter().map(|&i| sources[i].clone()).collect();
            let hyps = search(model, &batch, options)?;
            out.extend(c.iter().copied().zip(hyps));
        }
        Ok(())
    });
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    let mut all: Vec<Option<Vec<Hypothesis>>> = vec![None; sources.len()];
    for (i, h) in workers.into_iter().flatten() {
        all[i] = Some(h);
    }
    Ok(all.into_iter().map(Option::unwrap_or_default).collect())
}
