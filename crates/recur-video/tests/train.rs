//! Training on the generated moving-squares task (no FFmpeg needed: the clips are made in
//! memory), through the same path as `recur fit --train CLIPS`.

use recur_fit::FitPredictor;
use recur_video::clips::clip_set;
use recur_video::synthetic::{moving_squares, DIRECTIONS};
use recur_video::{video_settings, FrameSpec, Motion, VideoData, VideoFit, VideoMeta};
use serde_json::json;

fn squares(count: usize, meta: &VideoMeta, seed: u64) -> VideoData {
    let (clips, labels): (Vec<_>, Vec<_>) = moving_squares(count, &meta.frames, seed).into_iter().unzip();
    let classes: Vec<String> = DIRECTIONS.iter().map(|d| d.to_string()).collect();
    let groups = Some((0..count).map(|i| (i / 4).to_string()).collect());
    let clips = clips.into_iter().map(Some).collect();
    let (set, groups) = clip_set(clips, &labels, &classes, groups, (&meta.frames, meta.motion), "squares").unwrap();
    VideoData {
        set,
        groups,
        skipped: Vec::new(),
        frames: 0,
    }
}

#[test]
fn default_video_model_learns_moving_squares_that_no_frame_tells_apart() {
    let meta = VideoMeta {
        frames: FrameSpec {
            frames: 8,
            height: 16,
            width: 16,
            grayscale: true,
            ..FrameSpec::default()
        },
        motion: Motion::Differences,
    };
    let train = squares(160, &meta, 1);
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let fit = VideoFit {
        data: &train,
        meta,
        config: None,
        settings: video_settings(json!({"epochs": 12, "threads": 2})).unwrap(),
        out: dir.path().join("model"),
        resume: false,
        progress: Default::default(),
    };
    fit.fit().unwrap();
    let test = squares(80, &meta, 2);
    let (scores, _) = FitPredictor::load(&dir.path().join("model"))
        .unwrap()
        .score(&test.set, 2)
        .unwrap();
    let accuracy = scores.accuracy.unwrap();
    eprintln!(
        "moving squares: test accuracy {accuracy:.3} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(accuracy >= 0.95, "{accuracy}");
}
