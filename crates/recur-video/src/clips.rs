//! Decoded clips as the labelled sequence sets recur's trainer reads: one step per frame (or
//! per difference of consecutive frames, the motion between them), each step an image
//! `[height, width, channels]` scaled to [0, 1].

use crate::decode::{Clip, FrameSpec};
use crate::error::{Result, VideoError};
use recur_data::sequences::{SequenceSet, SequenceTargets};
use serde::{Deserialize, Serialize};

/// What a model sees of a clip's frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Motion {
    /// The frames themselves.
    Frames,
    /// Each frame minus the one before (T − 1 steps of values in [−1, 1]; a one-frame clip
    /// gives one step of zeros): what moves, with the static background removed.
    #[default]
    Differences,
}

impl Motion {
    /// Parses `frames` or `differences`.
    pub fn parse(text: &str) -> Result<Motion> {
        match text {
            "frames" => Ok(Motion::Frames),
            "differences" => Ok(Motion::Differences),
            other => Err(VideoError::Input(format!(
                "the model's input is `frames` or `differences` (of consecutive frames), not `{other}`"
            ))),
        }
    }

    /// The steps a model reads from `clip`, step-major `[steps, height·width·channels]`.
    pub fn steps(&self, clip: &Clip, frame_len: usize) -> Vec<f32> {
        let values = clip.to_unit_f32();
        match self {
            Motion::Frames => values,
            Motion::Differences if clip.frames < 2 => vec![0.0; frame_len],
            Motion::Differences => values[frame_len..]
                .iter()
                .zip(&values)
                .map(|(next, now)| next - now)
                .collect(),
        }
    }
}

/// A labelled set of clips: those decoded (`Some`) with their class indices, the others left
/// out; `groups` (one per clip of the list) are kept for the clips that stay.
pub fn clip_set(
    clips: Vec<Option<Clip>>,
    labels: &[usize],
    classes: &[String],
    groups: Option<Vec<String>>,
    (spec, motion): (&FrameSpec, Motion),
    source: &str,
) -> Result<(SequenceSet, Option<Vec<String>>)> {
    let frame_len = spec.frame_len();
    let (mut series, mut kept_labels, mut kept_groups) = (Vec::new(), Vec::new(), Vec::new());
    for (i, clip) in clips.into_iter().enumerate() {
        if let Some(clip) = clip {
            series.push(motion.steps(&clip, frame_len));
            kept_labels.push(labels[i]);
            kept_groups.extend(groups.as_ref().map(|g| g[i].clone()));
        }
    }
    if series.is_empty() {
        return Err(VideoError::Input(format!("{source}: no clip could be decoded")));
    }
    let set = SequenceSet {
        dims: frame_len,
        series,
        targets: SequenceTargets::Classes {
            labels: kept_labels,
            names: classes.to_vec(),
        },
        source: source.to_string(),
        sequential: true,
        more_inputs: Vec::new(),
    };
    Ok((set, groups.map(|_| kept_groups)))
}

/// The examples of `set` at `indices` (in that order), with their groups.
pub fn subset(set: &SequenceSet, groups: Option<&[String]>, indices: &[usize]) -> (SequenceSet, Option<Vec<String>>) {
    let targets = match &set.targets {
        SequenceTargets::Classes { labels, names } => SequenceTargets::Classes {
            labels: indices.iter().map(|&i| labels[i]).collect(),
            names: names.clone(),
        },
        // Clip sets hold one class per clip; nothing else is made here.
        other => other.clone(),
    };
    let picked = SequenceSet {
        dims: set.dims,
        series: indices.iter().map(|&i| set.series[i].clone()).collect(),
        targets,
        source: set.source.clone(),
        sequential: set.sequential,
        more_inputs: Vec::new(),
    };
    (picked, groups.map(|g| indices.iter().map(|&i| g[i].clone()).collect()))
}
