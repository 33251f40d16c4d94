//! Training-time distortions of the input sequences, for small data sets: every epoch each
//! training sequence is seen through a random window of its steps (window slicing), its
//! values multiplied by one random factor (scaling) and each value nudged by noise (jitter),
//! as time-series augmentation libraries offer them. Validation and prediction see the
//! sequences as they are.

use crate::settings::Settings;
use crate::supervision::Task;
use recur_core::Rng;
use recur_nn::{NnError, Result};

/// How strongly the training sequences are distorted; all zero (the default) leaves them be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    /// Deviation of the factor (around 1) that multiplies a whole sequence.
    pub scale: f64,
    /// Deviation of the Gaussian noise added to every value (in the model's input units:
    /// standardised, when the inputs are).
    pub jitter: f64,
    /// Largest share of a sequence's steps left out: a window of at least `1 - crop` of them,
    /// at a random place, is kept.
    pub crop: f64,
}

impl Augment {
    /// The distortions `settings` ask for, `None` when they ask for none; a crop is refused for
    /// per-step tasks (their targets would have to be cut alike), and any distortion for a
    /// model whose inputs are not `one_sequence_input` (static or several inputs).
    pub fn of(settings: &Settings, task: Task, one_sequence_input: bool) -> Result<Option<Augment>> {
        let a = Augment {
            scale: settings.augment_scale,
            jitter: settings.augment_jitter,
            crop: settings.augment_crop,
        };
        let asked = a.scale > 0.0 || a.jitter > 0.0 || a.crop > 0.0;
        if asked && !one_sequence_input {
            return Err(NnError::Setting(
                "training: augmentation distorts the sequences of a model with one sequence input; this \
                 model's inputs are not that: leave augment_scale, augment_jitter and augment_crop at 0"
                    .into(),
            ));
        }
        if a.crop > 0.0 && task.per_step() {
            return Err(NnError::Setting(format!(
                "training: augment_crop cuts sequences, which {} cannot take (its targets are per step); \
                 use augment_scale or augment_jitter",
                task.describe()
            )));
        }
        Ok(asked.then_some(a))
    }

    /// A distorted copy of one sequence of `steps` steps of `width` values, and its steps.
    pub fn apply(&self, x: &[f32], steps: usize, width: usize, rng: &mut Rng) -> (Vec<f32>, usize) {
        let (start, kept) = if self.crop > 0.0 && steps > 1 {
            let shortest = ((steps as f64 * (1.0 - self.crop)).ceil() as usize).clamp(1, steps);
            let kept = shortest + rng.below(steps - shortest + 1);
            (rng.below(steps - kept + 1), kept)
        } else {
            (0, steps)
        };
        let factor = if self.scale > 0.0 {
            (1.0 + self.scale * rng.normal()) as f32
        } else {
            1.0
        };
        let mut out = x[start * width..(start + kept) * width].to_vec();
        for v in &mut out {
            *v *= factor;
            if self.jitter > 0.0 {
                *v += (self.jitter * rng.normal()) as f32;
            }
        }
        (out, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn augment(scale: f64, jitter: f64, crop: f64) -> Augment {
        Augment { scale, jitter, crop }
    }

    #[test]
    fn augment_crop_keeps_a_window_of_the_sequence() {
        let x: Vec<f32> = (0..40).map(|v| v as f32).collect(); // 20 steps of 2
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let (out, kept) = augment(0.0, 0.0, 0.25).apply(&x, 20, 2, &mut rng);
            assert!((15..=20).contains(&kept), "{kept}");
            assert_eq!(out.len(), kept * 2);
            let start = out[0] as usize;
            assert_eq!(start % 2, 0, "whole steps");
            assert_eq!(out, x[start..start + kept * 2].to_vec(), "consecutive steps");
        }
        let (out, kept) = augment(0.0, 0.0, 0.9).apply(&x[..2], 1, 2, &mut rng);
        assert_eq!((out.len(), kept), (2, 1), "a single step stays");
    }

    #[test]
    fn augment_scale_multiplies_a_sequence_by_one_factor_and_jitter_adds_noise() {
        let x = vec![1f32, 2.0, -4.0];
        let mut rng = Rng::new(1);
        let (out, kept) = augment(0.2, 0.0, 0.0).apply(&x, 3, 1, &mut rng);
        assert_eq!(kept, 3);
        let f = out[0];
        assert!(f != 1.0 && (out[1] - 2.0 * f).abs() < 1e-6 && (out[2] + 4.0 * f).abs() < 1e-6);
        let (out, _) = augment(0.0, 0.1, 0.0).apply(&x, 3, 1, &mut rng);
        assert!(out.iter().zip(&x).all(|(a, b)| a != b && (a - b).abs() < 1.0));
        let (out, _) = augment(0.0, 0.0, 0.0).apply(&x, 3, 1, &mut rng);
        assert_eq!(out, x);
    }

    #[test]
    fn augment_settings_off_by_default_and_crop_refused_per_step() {
        let mut s = Settings::default();
        assert_eq!(Augment::of(&s, Task::Classify, true).unwrap(), None);
        s.augment_crop = 0.1;
        assert!(Augment::of(&s, Task::Classify, true).unwrap().is_some());
        let e = Augment::of(&s, Task::TagSteps, true).unwrap_err().to_string();
        assert!(e.contains("augment_crop"), "{e}");
        s.augment_crop = 0.0;
        s.augment_jitter = 0.05;
        assert!(Augment::of(&s, Task::TagSteps, true).unwrap().is_some());
    }
}
