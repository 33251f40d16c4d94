//! Training on video through recur-fit's machinery (its settings, trainer, epoch loop and
//! model metadata): clips decoded once per run, the built-in architectures (a 3D CNN, or a
//! frame CNN feeding a bidirectional GRU), the frame settings stored in the model, and grouped
//! cross-validation.

use crate::clips::{clip_set, subset, Motion};
use crate::dataset::ClipList;
use crate::decode::FrameSpec;
use crate::error::{Result, VideoError};
use crate::load::decode_all;
use crate::tools::Ffmpeg;
use recur_data::sequences::SequenceSet;
use recur_fit::split::grouped_folds;
use recur_fit::{fit_sequences, FitJob, FitOutcome, FitPredictor, Settings};
use recur_nn::ModelConfig;
use recur_train::Reporter;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The key of [`VideoMeta`] in a model's `metadata`.
pub const VIDEO_META_KEY: &str = "video";

/// How a model reads clips, stored in it so that evaluation and prediction read them as
/// training did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoMeta {
    /// Frames sampled, their size and colour, and how they are resized.
    pub frames: FrameSpec,
    /// Frames or their differences.
    pub motion: Motion,
}

impl VideoMeta {
    /// The metadata of a model trained on video, if it is one.
    pub fn of(config: &ModelConfig) -> Option<Result<VideoMeta>> {
        config.metadata.get(VIDEO_META_KEY).map(|v| {
            serde_json::from_value(v.clone())
                .map_err(|e| VideoError::Input(format!("the model's `{VIDEO_META_KEY}` metadata is unreadable: {e}")))
        })
    }

    /// Puts this metadata in `config`.
    fn store(&self, config: &mut ModelConfig) {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        config.metadata.insert(VIDEO_META_KEY.into(), value);
    }
}

/// The built-in architectures for clips, when no config is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Architecture {
    /// A CNN over every frame feeding a bidirectional GRU (a CRNN).
    Crnn,
    /// A 3D CNN: convolutions over time and space together (C3D-style); the default, as it
    /// scored higher in grouped cross-validation on real surveillance clips (docs/video.md).
    #[default]
    C3d,
}

impl Architecture {
    /// Reads `crnn` or `c3d`.
    pub fn parse(text: &str) -> Result<Architecture> {
        match text {
            "crnn" => Ok(Architecture::Crnn),
            "c3d" => Ok(Architecture::C3d),
            other => Err(VideoError::Input(format!(
                "unknown architecture `{other}`: use crnn (a CNN over each frame feeding a GRU) or c3d (a 3D CNN)"
            ))),
        }
    }
}

/// The default model of `architecture` for clips read as `meta` says, `classes` outputs.
///
/// `crnn`: three blocks of a 3×3 convolution, batch normalisation, ReLU and 2×2 max pooling
/// over every frame (16, 32 and 64 filters), each frame's feature maps averaged, a
/// bidirectional GRU(32) over the frames, the mean of its outputs over each clip's real
/// frames, and a dense layer. `c3d`: three blocks of a 3×3×3 convolution over time and space,
/// batch normalisation, ReLU and max pooling (the first over space only, so short clips keep
/// their steps; 16, 32, 64 filters), the mean over each clip's real steps and pixels, dense.
pub fn default_video_config(meta: &VideoMeta, classes: usize, architecture: Architecture) -> Result<ModelConfig> {
    let spec = &meta.frames;
    let mut layers = Vec::new();
    for (block, filters) in [16, 32, 64].into_iter().enumerate() {
        match architecture {
            Architecture::Crnn => {
                layers.push(json!({"type": "time_distributed", "layer": {"type": "conv2d", "filters": filters, "kernel_size": 3, "padding": "same"}}));
            }
            Architecture::C3d => {
                layers.push(json!({"type": "conv3d", "filters": filters, "kernel_size": 3, "padding": "same"}))
            }
        }
        layers.push(json!({"type": "batch_norm"}));
        layers.push(json!({"type": "activation", "activation": "relu"}));
        layers.push(match architecture {
            Architecture::Crnn => {
                json!({"type": "time_distributed", "layer": {"type": "max_pool2d", "pool_size": 2, "padding": "same"}})
            }
            Architecture::C3d if block == 0 => json!({"type": "max_pool3d", "pool_size": [1, 2, 2], "padding": "same"}),
            Architecture::C3d => json!({"type": "max_pool3d", "pool_size": 2, "padding": "same"}),
        });
    }
    match architecture {
        Architecture::Crnn => {
            layers.push(json!({"type": "time_distributed", "layer": {"type": "global_avg_pool2d"}}));
            layers.push(json!({"type": "gru", "units": 32, "bidirectional": true, "return_sequences": true}));
            layers.push(json!({"type": "global_mean_pool"}));
        }
        Architecture::C3d => layers.push(json!({"type": "global_avg_pool3d"})),
    }
    layers.push(json!({"type": "dense", "units": classes}));
    let config = json!({"input_shape": [spec.height, spec.width, spec.channels()], "layers": layers});
    ModelConfig::from_json(&config.to_string()).map_err(VideoError::from)
}

/// A model config of the user's (a `recur fit` config's model part) for clips read as `meta`
/// says: its input is the frames' `[height, width, channels]` unless it declares one.
pub fn video_config(mut model: Value, meta: &VideoMeta, source: &str) -> Result<ModelConfig> {
    let spec = &meta.frames;
    if let Some(map) = model.as_object_mut() {
        if !["inputs", "input_size", "input_shape"]
            .iter()
            .any(|k| map.contains_key(*k))
        {
            map.insert("input_shape".into(), json!([spec.height, spec.width, spec.channels()]));
        }
    }
    ModelConfig::from_json(&model.to_string()).map_err(|e| VideoError::Input(format!("{source}: {e}")))
}

/// Training settings for video: `training` (a config's section with the flags laid over it)
/// over the video defaults: the values as decoded ([0, 1], or differences in [−1, 1]), so no
/// standardisation, signed log or per-sequence channels; gradient training; 60 epochs on all
/// the clips, the last kept (no validation part: a class folder has no groups, and a split of
/// clips cut from the same source videos would choose the epoch on near-copies of the
/// training clips); and, with `augment`, [`video_augmentation`] (without it, only the augment
/// settings given).
pub fn video_settings(training: Value, augment: bool) -> Result<Settings> {
    let mut merged = json!({"standardize": false, "log_inputs": "off", "sequence_norm": "off", "solver": "gradient", "epochs": 60, "val_split": 0.0});
    let laid = if augment {
        vec![video_augmentation(), training]
    } else {
        vec![training]
    };
    if let Some(base) = merged.as_object_mut() {
        for layer in laid {
            if let Value::Object(given) = layer {
                base.extend(given);
            }
        }
    }
    Settings::from_json(merged).map_err(VideoError::from)
}

/// The distortions of every training clip, each epoch, by default (`training` settings): a
/// left-right flip for half of them, a random crop of at least 80% of each side scaled back
/// to the frame size, brightness (all values multiplied by one factor, deviation 0.1) and
/// temporal jitter (each sampled frame replaced by its neighbour by chance 0.1).
pub fn video_augmentation() -> Value {
    json!({"augment_flip": true, "augment_zoom": 0.2, "augment_scale": 0.1, "augment_time_jitter": 0.1})
}

/// Clips decoded for a run: the sequence set, each clip's group, and how many were skipped.
pub struct VideoData {
    /// The clips that decoded, as sequences of frames (or differences).
    pub set: SequenceSet,
    /// Each kept clip's group, if the list has groups.
    pub groups: Option<Vec<String>>,
    /// Clips that could not be read, each error naming its file.
    pub skipped: Vec<VideoError>,
    /// Frames decoded and kept.
    pub frames: usize,
}

/// Decodes every clip of `list` once, `threads` at a time, for models reading `meta`.
pub fn read_clips(ffmpeg: &Ffmpeg, list: &ClipList, meta: &VideoMeta, threads: usize) -> Result<VideoData> {
    let paths: Vec<PathBuf> = list.clips.iter().map(|c| c.path.clone()).collect();
    let decoded = decode_all(ffmpeg, &paths, &meta.frames, threads)?;
    let (set, groups) = clip_set(
        decoded.clips,
        &list.labels(),
        &list.classes,
        list.groups(),
        (&meta.frames, meta.motion),
        &list.source,
    )?;
    Ok(VideoData {
        set,
        groups,
        skipped: decoded.skipped,
        frames: decoded.frames,
    })
}

/// A training run on decoded clips.
pub struct VideoFit<'a> {
    /// The clips.
    pub data: &'a VideoData,
    /// How they were read (stored in the model).
    pub meta: VideoMeta,
    /// The user's model, or `None` for [`default_video_config`] of `architecture`.
    pub config: Option<ModelConfig>,
    /// The built-in architecture used when `config` is `None`.
    pub architecture: Architecture,
    /// Training settings (see [`video_settings`]).
    pub settings: Settings,
    /// The model directory.
    pub out: PathBuf,
    /// Continue the checkpointed run in `out`.
    pub resume: bool,
    /// Where progress goes.
    pub progress: Reporter,
}

impl VideoFit<'_> {
    /// Trains on all the clips (a grouped validation part held out when they have groups).
    pub fn fit(&self) -> Result<FitOutcome> {
        self.fit_on(&self.data.set, self.data.groups.as_deref(), &self.out)
    }

    /// Trains on `set` into `out`.
    fn fit_on(&self, set: &SequenceSet, groups: Option<&[String]>, out: &Path) -> Result<FitOutcome> {
        let mut config = match &self.config {
            Some(c) => c.clone(),
            None => default_video_config(&self.meta, recur_fit::output_width(set), self.architecture)?,
        };
        self.meta.store(&mut config);
        let job = FitJob {
            train: set,
            val: None,
            config: Some(config),
            settings: self.settings.clone(),
            out: out.to_path_buf(),
            resume: self.resume,
            progress: self.progress.clone(),
            rank_local: false,
            groups,
        };
        Ok(fit_sequences(&job)?)
    }

    /// `k`-fold cross-validation, each group (or, without groups, each clip) wholly in one
    /// fold: fold `f` is trained on the others into `out/folds/f` and scored on itself.
    /// Returns each fold's test accuracy.
    pub fn cross_validate(&self, k: usize, threads: usize) -> Result<Vec<f64>> {
        let set = &self.data.set;
        let own: Vec<String>;
        let groups = match &self.data.groups {
            Some(g) => g.as_slice(),
            None => {
                own = (0..set.len()).map(|i| i.to_string()).collect();
                &own
            }
        };
        let folds = grouped_folds(groups, k, self.settings.seed, &set.source)?;
        let mut accuracies = Vec::with_capacity(k);
        for (f, test) in folds.iter().enumerate() {
            let train: Vec<usize> = (0..set.len()).filter(|i| test.binary_search(i).is_err()).collect();
            let (train_set, train_groups) = subset(set, self.data.groups.as_deref(), &train);
            let (test_set, _) = subset(set, None, test);
            let dir = self.out.join("folds").join(f.to_string());
            self.progress.note(&format!(
                "fold {} of {k}: training on {} clips, testing on {}",
                f + 1,
                train.len(),
                test.len()
            ));
            self.fit_on(&train_set, train_groups.as_deref(), &dir)?;
            let (scores, _) = FitPredictor::load(&dir)?.score(&test_set, threads)?;
            accuracies.push(scores.accuracy.unwrap_or(0.0));
        }
        Ok(accuracies)
    }
}

/// The mean and (sample) standard deviation of `values`.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}
