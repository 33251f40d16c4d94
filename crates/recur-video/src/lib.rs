//! recur's video input. Clips (`.mp4`, `.avi`, `.webm`, `.mkv`, …) are probed and decoded by
//! the `ffmpeg` and `ffprobe` programs ([`Ffmpeg`]): T frames sampled uniformly over each clip
//! (a shorter clip keeps its true length), resized to H×W (squashed or centre-cropped), RGB or
//! grayscale, as bytes scaled to [0, 1] on use, channels last ([`FrameSpec`], [`decode`]).
//! Labelled clip sets come from a folder per class or a CSV with optional groups
//! ([`ClipList`]), are decoded in parallel ([`decode_all`]) and can be written as NumPy frame
//! arrays `[clips, time, height, width, channels]` ([`write_frame_arrays`]). Models train on
//! them through recur-fit ([`VideoFit`]: a 3D CNN by default, or a frame CNN feeding a
//! bidirectional GRU)
//! and read clips back as they were trained ([`VideoPredictor`]).

pub mod arrays;
pub mod clips;
pub mod dataset;
pub mod decode;
pub mod error;
pub mod load;
pub mod predictor;
pub mod probe;
pub mod synthetic;
pub mod tools;
pub mod train;

pub use arrays::{write_frame_arrays, FrameDtype};
pub use clips::Motion;
pub use dataset::{ClipEntry, ClipList};
pub use decode::{decode, sample_indices, Clip, FrameSpec, Resize};
pub use error::{Result, VideoError};
pub use load::{decode_all, Decoded};
pub use predictor::{ClipGuess, VideoPredictor};
pub use probe::{probe, ClipInfo};
pub use tools::Ffmpeg;
pub use train::{
    default_video_config, read_clips, video_augmentation, video_config, video_settings, Architecture, VideoData,
    VideoFit, VideoMeta,
};
