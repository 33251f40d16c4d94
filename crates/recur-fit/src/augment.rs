//! Training-time distortions of the input sequences, for small data sets: every epoch each
//! training sequence is seen through a random window of its steps (window slicing), some of
//! its steps replaced by a neighbour (temporal jitter), its values multiplied by one random
//! factor (scaling; brightness, for frames) and each value nudged by noise (jitter), as
//! time-series augmentation libraries offer them; sequences of frames can also be flipped and
//! zoomed ([`FrameAugment`]). Validation and prediction see the sequences as they are.

pub use crate::augment_frames::FrameAugment;
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
    /// Chance that a step is replaced by the step before or after it (the sequence keeps its
    /// length; its first and last steps only move inwards).
    pub time_jitter: f64,
    /// Flips and zooms of frames, for a model whose steps are frames.
    pub frames: Option<FrameAugment>,
}

impl Augment {
    /// The distortions `settings` ask for, `None` when they ask for none. `frame_shape` is the
    /// model's input step as `[height, width, channels]` when its steps are frames (flips and
    /// zooms are refused for other models). A crop or temporal jitter is refused for per-step
    /// tasks (their targets would have to be moved alike), and any distortion for a model
    /// whose inputs are not `one_sequence_input` (static or several inputs).
    pub fn of(
        settings: &Settings,
        task: Task,
        one_sequence_input: bool,
        frame_shape: Option<[usize; 3]>,
    ) -> Result<Option<Augment>> {
        let frames = Self::frames_of(settings, frame_shape)?;
        let a = Augment {
            scale: settings.augment_scale,
            jitter: settings.augment_jitter,
            crop: settings.augment_crop,
            time_jitter: settings.augment_time_jitter,
            frames,
        };
        let asked = a.scale > 0.0 || a.jitter > 0.0 || a.crop > 0.0 || a.time_jitter > 0.0 || frames.is_some();
        if asked && !one_sequence_input {
            return Err(NnError::Setting(
                "training: augmentation distorts the sequences of a model with one sequence input; this \
                 model's inputs are not that: leave the augment_ settings at 0 (and augment_flip off)"
                    .into(),
            ));
        }
        if (a.crop > 0.0 || a.time_jitter > 0.0) && task.per_step() {
            return Err(NnError::Setting(format!(
                "training: augment_crop and augment_time_jitter move steps, which {} cannot take (its \
                 targets are per step); use augment_scale or augment_jitter",
                task.describe()
            )));
        }
        Ok(asked.then_some(a))
    }

    /// The flips and zooms `settings` ask for, refused unless the model reads frames.
    fn frames_of(settings: &Settings, frame_shape: Option<[usize; 3]>) -> Result<Option<FrameAugment>> {
        if !settings.augment_flip && settings.augment_zoom == 0.0 {
            return Ok(None);
        }
        let Some(shape) = frame_shape else {
            return Err(NnError::Setting(
                "training: augment_flip and augment_zoom distort frames, and this model's steps are not \
                 frames (give it an input_shape [height, width, channels]); leave them off"
                    .into(),
            ));
        };
        Ok(Some(FrameAugment {
            shape,
            flip: settings.augment_flip,
            zoom: settings.augment_zoom,
        }))
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
        let mut out = x[start * width..(start + kept) * width].to_vec();
        if self.time_jitter > 0.0 && kept > 1 {
            out = self.jitter_steps(&out, kept, width, rng);
        }
        if let Some(frames) = &self.frames {
            frames.apply(&mut out, kept, rng);
        }
        let factor = if self.scale > 0.0 {
            (1.0 + self.scale * rng.normal()) as f32
        } else {
            1.0
        };
        for v in &mut out {
            *v *= factor;
            if self.jitter > 0.0 {
                *v += (self.jitter * rng.normal()) as f32;
            }
        }
        (out, kept)
    }

    /// `steps` steps of `width` values with each, by chance `time_jitter`, read from its
    /// neighbour before or after instead (from the undistorted steps, so nothing moves twice).
    fn jitter_steps(&self, x: &[f32], steps: usize, width: usize, rng: &mut Rng) -> Vec<f32> {
        let mut out = Vec::with_capacity(x.len());
        for step in 0..steps {
            let source = if rng.uniform() < self.time_jitter {
                match (step, rng.uniform() < 0.5) {
                    (0, _) => 1,
                    (s, _) if s + 1 == steps => s - 1,
                    (s, true) => s - 1,
                    (s, false) => s + 1,
                }
            } else {
                step
            };
            out.extend_from_slice(&x[source * width..(source + 1) * width]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn augment(scale: f64, jitter: f64, crop: f64) -> Augment {
        Augment {
            scale,
            jitter,
            crop,
            time_jitter: 0.0,
            frames: None,
        }
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
        assert_eq!(Augment::of(&s, Task::Classify, true, None).unwrap(), None);
        s.augment_crop = 0.1;
        assert!(Augment::of(&s, Task::Classify, true, None).unwrap().is_some());
        let e = Augment::of(&s, Task::TagSteps, true, None).unwrap_err().to_string();
        assert!(e.contains("augment_crop"), "{e}");
        s.augment_crop = 0.0;
        s.augment_jitter = 0.05;
        assert!(Augment::of(&s, Task::TagSteps, true, None).unwrap().is_some());
    }

    #[test]
    fn augment_time_jitter_moves_steps_to_neighbours_and_keeps_the_length() {
        let x: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let a = Augment {
            time_jitter: 1.0,
            ..augment(0.0, 0.0, 0.0)
        };
        let mut rng = Rng::new(2);
        for _ in 0..50 {
            let (out, kept) = a.apply(&x, 6, 1, &mut rng);
            assert_eq!(kept, 6);
            for (step, v) in out.iter().enumerate() {
                assert_eq!((*v - step as f32).abs(), 1.0, "step {step} read {v}: {out:?}");
            }
        }
    }

    #[test]
    fn augment_flip_and_zoom_are_refused_for_steps_that_are_not_frames() {
        let s = Settings {
            augment_flip: true,
            ..Settings::default()
        };
        let e = Augment::of(&s, Task::Classify, true, None).unwrap_err().to_string();
        assert!(e.contains("augment_flip and augment_zoom distort frames"), "{e}");
        let a = Augment::of(&s, Task::Classify, true, Some([2, 2, 3])).unwrap().unwrap();
        assert_eq!(a.frames.map(|f| (f.shape, f.flip)), Some(([2, 2, 3], true)));
    }

    /// Two clips of 2×3 one-channel frames, 4 and 2 frames long, as a video fit sees them.
    fn clips() -> (crate::task::Examples, Settings) {
        use crate::settings::{LogInputs, SequenceNorm};
        use recur_data::sequences::{SequenceSet, SequenceTargets};
        let frames = |steps: usize, base: f32| (0..steps * 6).map(|v| base + v as f32 / 24.0).collect();
        let set = SequenceSet {
            dims: 6,
            series: vec![frames(4, 0.0), frames(2, 0.5)],
            targets: SequenceTargets::Classes {
                labels: vec![0, 1],
                names: vec!["a".into(), "b".into()],
            },
            source: "mem".into(),
            sequential: true,
            more_inputs: Vec::new(),
        };
        let settings = Settings {
            standardize: Some(false),
            log_inputs: Some(LogInputs::Off),
            sequence_norm: Some(SequenceNorm::Off),
            augment_flip: true,
            augment_zoom: 0.3,
            augment_time_jitter: 0.3,
            augment_scale: 0.2,
            ..Settings::default()
        };
        let meta = crate::task::FitMeta::measure(&set, &settings);
        (crate::task::Examples::new(&set, &meta, &[0, 1], None), settings)
    }

    #[test]
    fn augmented_video_batches_repeat_with_the_seed_and_padded_frames_stay_masked() {
        let (examples, settings) = clips();
        let a = Augment::of(&settings, Task::Classify, true, Some([2, 3, 1]))
            .unwrap()
            .unwrap();
        let batch = |seed: u64| {
            examples
                .batch_with(&[0, 1], Some((&a, &mut Rng::derive(seed, 9))))
                .unwrap()
                .x
        };
        let (first, again, other) = (batch(7), batch(7), batch(8));
        assert_eq!(first.data, again.data, "the same seed gives the same batch");
        assert_ne!(first.data, other.data, "another seed another batch");
        let plain = examples.batch(&[0, 1]).unwrap().x;
        assert_ne!(first.data, plain.data, "the batch is distorted");
        assert_eq!((first.time, first.lengths.clone()), (4, vec![4, 2]), "lengths kept");
        // The short clip's two padded frames stay zero (and masked by its length).
        let padded = &first.data[4 * 6 + 2 * 6..];
        assert!(padded.iter().all(|&v| v == 0.0), "{padded:?}");
    }
}
