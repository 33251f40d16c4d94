//! [`VideoPredictor`]: a model trained on clips, loaded with the way it reads them, scoring
//! labelled clip lists and classifying single clips. `recur eval` and `recur run` call it.

use crate::clips::clip_set;
use crate::dataset::ClipList;
use crate::decode::decode;
use crate::error::{Result, VideoError};
use crate::tools::Ffmpeg;
use crate::train::{read_clips, VideoData, VideoMeta};
use recur_fit::{FitPredictor, Scores};
use recur_nn::model_dir::{read_config, CONFIG_FILE};
use std::path::Path;

/// A model trained on video and how it reads clips.
pub struct VideoPredictor {
    /// The model, its members and scaling.
    pub fitted: FitPredictor,
    /// Frames sampled, their size and what the model sees of them.
    pub meta: VideoMeta,
}

/// One clip's class probabilities, by the model's class order.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipGuess {
    /// The most probable class.
    pub label: String,
    /// Each class's probability.
    pub probabilities: Vec<f64>,
}

impl VideoPredictor {
    /// Whether the model in `dir` was trained on video.
    pub fn is_video_model(dir: &Path) -> bool {
        read_config(&dir.join(CONFIG_FILE)).is_ok_and(|c| VideoMeta::of(&c).is_some())
    }

    /// Loads the model in `dir`, refusing one not trained on video.
    pub fn load(dir: &Path) -> Result<VideoPredictor> {
        let fitted = FitPredictor::load(dir)?;
        let config = read_config(&dir.join(CONFIG_FILE))?;
        let meta = VideoMeta::of(&config).ok_or_else(|| {
            VideoError::Input(format!(
                "{} was not trained on video (no `video` metadata)",
                dir.display()
            ))
        })??;
        Ok(VideoPredictor { fitted, meta })
    }

    /// Decodes the clips of `list` (a class folder or CSV) as in training and scores them;
    /// also returns the clips read (with those skipped).
    pub fn score(&self, ffmpeg: &Ffmpeg, list: &ClipList, threads: usize) -> Result<(Scores, VideoData)> {
        let data = read_clips(ffmpeg, list, &self.meta, threads)?;
        let (scores, _) = self.fitted.score(&data.set, threads)?;
        Ok((scores, data))
    }

    /// Classifies one clip file.
    pub fn classify(&self, ffmpeg: &Ffmpeg, clip: &Path, threads: usize) -> Result<ClipGuess> {
        let decoded = decode(ffmpeg, clip, &self.meta.frames)?;
        let classes = self.fitted.classes();
        let source = clip.display().to_string();
        let (set, _) = clip_set(
            vec![Some(decoded)],
            &[0],
            classes,
            None,
            (&self.meta.frames, self.meta.motion),
            &source,
        )?;
        let outputs = self.fitted.predict(&set, threads)?;
        let probabilities = outputs.into_iter().next().unwrap_or_default();
        let best = (0..probabilities.len())
            .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
            .unwrap_or(0);
        Ok(ClipGuess {
            label: classes.get(best).cloned().unwrap_or_default(),
            probabilities,
        })
    }
}
