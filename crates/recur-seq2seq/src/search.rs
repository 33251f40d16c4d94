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
    let k = options.beam.max(1);
    let n = sources.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    if let Some(i) = sources.iter().position(Vec::is_empty) {
        return Err(NnError::Input(format!("source {i} is empty")));
    }
    let time = sources.iter().map(Vec::len).max().unwrap_or(1);
    let mut data = vec![T::ZERO; n * time];
    for (b, s) in sources.iter().enumerate() {
        for (t, &id) in s.iter().enumerate() {
            data[b * time + t] = T::from_f64(id as f64);
        }
    }
    let source = Seq::new(data, n, time, 1, sources.iter().map(Vec::len).collect())
        .map_err(|e| NnError::Input(e.to_string()))?;
    let (decoding, mut state) = model.start(source, k)?;
    // Row b·k + j is beam j of source b; at first only beam 0 is alive, so the k rows
    // (identical) do not fill the beam with copies of one hypothesis.
    let mut open: Vec<Option<Open>> = (0..n * k)
        .map(|r| {
            (r % k == 0).then(|| Open {
                tokens: Vec::new(),
                log_prob: 0.0,
                attention: Vec::new(),
            })
        })
        .collect();
    let mut finished: Vec<Vec<Hypothesis>> = vec![Vec::new(); n];
    let mut done = vec![false; n];
    let v = model.config().target_vocab;
    for step in 0..=options.max_len {
        let tokens: Vec<u32> = open
            .iter()
            .map(|o| o.as_ref().and_then(|o| o.tokens.last().copied()).unwrap_or(Vocab::SOS))
            .collect();
        let (log_probs, next, weights) = model.next(&decoding, &tokens, &state);
        let mut rows = Vec::with_capacity(n * k);
        let mut next_open = Vec::with_capacity(n * k);
        for b in 0..n {
            let mut candidates: Vec<(f64, usize, u32)> = Vec::new();
            if !done[b] {
                for j in 0..k {
                    let r = b * k + j;
                    let Some(o) = &open[r] else { continue };
                    for (id, &lp) in log_probs[r * v..(r + 1) * v].iter().enumerate() {
                        // Specials other than EOS are never outputs.
                        if id != Vocab::EOS as usize && id < 4 {
                            continue;
                        }
                        candidates.push((o.log_prob + lp, r, id as u32));
                    }
                }
            }
            candidates.sort_by(|a, c| c.0.total_cmp(&a.0).then(a.1.cmp(&c.1)).then(a.2.cmp(&c.2)));
            let mut alive = 0;
            for (rank, &(log_prob, r, id)) in candidates.iter().take(2 * k).enumerate() {
                // An ending outside the best k would not have been in the beam (as in
                // Hugging Face's beam search): without this, a beam of one would stop at
                // the second-best token whenever that is EOS.
                if id == Vocab::EOS && rank >= k {
                    continue;
                }
                let o = open[r].as_ref().expect("candidates come from open rows");
                let mut attention = o.attention.clone();
                if options.attention {
                    let len = sources[b].len();
                    let w = &weights.data[r * weights.features..][..len];
                    attention.push(w.iter().map(|x| x.to_f64() as f32).collect());
                }
                if id == Vocab::EOS || step == options.max_len {
                    if finished[b].len() < k {
                        let mut tokens = o.tokens.clone();
                        if id != Vocab::EOS {
                            tokens.push(id);
                        }
                        finished[b].push(Hypothesis {
                            score: normalised(log_prob, o.tokens.len() + 1, options.alpha),
                            tokens,
                            log_prob,
                            attention,
                        });
                    }
                } else if alive < k {
                    let mut tokens = o.tokens.clone();
                    tokens.push(id);
                    rows.push(r);
                    next_open.push(Some(Open {
                        tokens,
                        log_prob,
                        attention,
                    }));
                    alive += 1;
                }
            }
            if finished[b].len() >= k || alive == 0 {
                done[b] = true;
            }
            // Rows without a hypothesis keep running (dead) so the batch keeps its shape.
            for _ in alive..k {
                rows.push(b * k);
                next_open.push(None);
            }
            if done[b] {
                let start = next_open.len() - k;
                next_open[start..].iter_mut().for_each(|o| *o = None);
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        state = next.select(&rows);
        open = next_open;
    }
    Ok(finished
        .into_iter()
        .map(|mut hyps| {
            hyps.sort_by(|a, b| b.score.total_cmp(&a.score));
            hyps.truncate(options.nbest.max(1));
            hyps
        })
        .collect())
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
