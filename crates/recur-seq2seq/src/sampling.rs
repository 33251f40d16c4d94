//! Scheduled sampling (Bengio et al., 2015) in its two-pass form (Duckworth et al., 2019;
//! Mihaylova and Martins, 2019): the model first reads the batch under teacher forcing without
//! learning, and each decoder input after the first is then, with probability `p`, replaced by
//! the token the model predicted at the step before; training proceeds on those inputs. The
//! model thus learns to continue from its own mistakes, as it must at search time, while every
//! step still runs in one teacher-forced pass (the fed tokens are inputs, not differentiated).

use crate::decoder::Batch;
use crate::model::Seq2Seq;
use recur_core::{Float, Rng};
use recur_nn::NnError;

/// Replaces each decoder input of `batch` after the first, with probability `p`, by the token
/// `model` predicts (its most probable) at the step before under teacher forcing. Returns how
/// many inputs were replaced; `p = 0` changes nothing and draws nothing.
pub fn mix_in_predictions<T: Float>(
    model: &Seq2Seq<T>,
    batch: &mut Batch<T>,
    p: f64,
    rng: &mut Rng,
) -> Result<usize, NnError> {
    if p <= 0.0 {
        return Ok(0);
    }
    let predicted = teacher_forced_predictions(model, batch)?;
    let inputs = &mut batch.inputs;
    let mut replaced = 0;
    for b in 0..inputs.batch {
        for t in 1..inputs.lengths[b] {
            if rng.uniform() < p {
                inputs.data[b * inputs.time + t] = T::from_f64(f64::from(predicted[b * inputs.time + t - 1]));
                replaced += 1;
            }
        }
    }
    Ok(replaced)
}

/// The most probable next token at every decoder step of `batch` fed the gold inputs
/// (`[batch · tgt_time]`, row-major; steps past a row's length are PAD's).
pub fn teacher_forced_predictions<T: Float>(model: &Seq2Seq<T>, batch: &Batch<T>) -> Result<Vec<u32>, NnError> {
    let inputs = &batch.inputs;
    let (decoding, mut state) = model.start(batch.source.clone(), 1)?;
    let mut predicted = vec![0u32; inputs.batch * inputs.time];
    for t in 0..inputs.time {
        // Rows past their length are fed their last input; what they predict is not used.
        let tokens: Vec<u32> = (0..inputs.batch)
            .map(|b| inputs.data[b * inputs.time + t.min(inputs.lengths[b].saturating_sub(1))].to_f64() as u32)
            .collect();
        let (log_probs, next, _) = model.next(&decoding, &tokens, &state);
        let v = log_probs.len() / inputs.batch.max(1);
        for (b, row) in log_probs.chunks_exact(v.max(1)).enumerate() {
            if t < inputs.lengths[b] {
                let best = (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best });
                predicted[b * inputs.time + t] = best as u32;
            }
        }
        state = next;
    }
    Ok(predicted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CellKind, Seq2SeqConfig};

    fn model() -> Seq2Seq<f32> {
        let config = Seq2SeqConfig {
            source_vocab: 9,
            target_vocab: 8,
            embedding: 6,
            cell: CellKind::Lstm,
            encoder_units: 5,
            encoder_layers: 1,
            bidirectional: true,
            decoder_units: 7,
            attention: "general".into(),
            input_feeding: true,
            dropout: 0.0,
        };
        Seq2Seq::new(config, 3).unwrap()
    }

    #[test]
    fn scheduled_sampling_replaces_inputs_with_the_predictions_before_them() {
        let m = model();
        let pairs: Vec<(Vec<u32>, Vec<u32>)> = vec![
            (vec![4, 5, 6], vec![4, 5, 6, 7]),
            (vec![7, 8], vec![5, 4]),
            (vec![4], vec![6]),
        ];
        let refs: Vec<(&[u32], &[u32])> = pairs.iter().map(|(s, t)| (s.as_slice(), t.as_slice())).collect();
        let gold = Batch::<f32>::new(&refs).unwrap();
        let predicted = teacher_forced_predictions(&m, &gold).unwrap();

        let mut none = Batch::<f32>::new(&refs).unwrap();
        assert_eq!(mix_in_predictions(&m, &mut none, 0.0, &mut Rng::new(1)).unwrap(), 0);
        assert_eq!(none.inputs.data, gold.inputs.data);

        let mut all = Batch::<f32>::new(&refs).unwrap();
        let replaced = mix_in_predictions(&m, &mut all, 1.0, &mut Rng::new(1)).unwrap();
        let time = gold.inputs.time;
        assert_eq!(replaced, gold.inputs.lengths.iter().map(|l| l - 1).sum::<usize>());
        for b in 0..gold.inputs.batch {
            // SOS stays; every later input is the prediction one step earlier; padding stays.
            assert_eq!(all.inputs.data[b * time], gold.inputs.data[b * time]);
            for t in 1..time {
                let want = if t < gold.inputs.lengths[b] {
                    predicted[b * time + t - 1] as f32
                } else {
                    gold.inputs.data[b * time + t]
                };
                assert_eq!(all.inputs.data[b * time + t], want, "row {b} step {t}");
            }
        }
        assert_eq!(all.targets, gold.targets, "the targets stay the gold tokens");
        // Each prediction is what search's own step gives for the gold prefix.
        let (decoding, state) = m.start(gold.source.clone(), 1).unwrap();
        let first: Vec<u32> = (0..gold.inputs.batch)
            .map(|b| gold.inputs.data[b * time] as u32)
            .collect();
        let (log_probs, _, _) = m.next(&decoding, &first, &state);
        let v = log_probs.len() / gold.inputs.batch;
        for b in 0..gold.inputs.batch {
            let row = &log_probs[b * v..(b + 1) * v];
            let best = (0..v).fold(0, |best, i| if row[i] > row[best] { i } else { best });
            assert_eq!(predicted[b * time], best as u32);
        }
    }
}
