//! Training-time distortions of sequences of frames (video clips, `[steps, height, width,
//! channels]` channels last): a random horizontal flip and a random crop scaled back to the
//! frame size (a zoom), the same for every frame of a sequence so that motion stays coherent.
//! Both are linear in the values and act on each frame alone, so they give the same result on
//! frames and on differences of consecutive frames.

use recur_core::Rng;

/// The frame distortions of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameAugment {
    /// Each frame's `[height, width, channels]`.
    pub shape: [usize; 3],
    /// Mirror the frames left to right, for half of the sequences.
    pub flip: bool,
    /// Largest share of each side cut off: a window of at least `1 - zoom` of the height and
    /// the width (one share for both, so the aspect ratio stays), at a random place, is
    /// scaled back to the frame size. 0 leaves the frames whole.
    pub zoom: f64,
}

/// A crop window in source pixels: its top-left corner and size.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Window {
    top: f64,
    left: f64,
    height: f64,
    width: f64,
}

/// Where each output row (or column) reads from: the two source rows and the second's weight.
struct Taps {
    near: Vec<usize>,
    far: Vec<usize>,
    weight: Vec<f32>,
}

impl Taps {
    /// Bilinear taps for `out` output pixels over `[start, start + extent)` of a side of
    /// `side` source pixels (pixel centres at `i + 0.5`, as image resizers place them).
    fn new(out: usize, start: f64, extent: f64, side: usize) -> Taps {
        let last = side.saturating_sub(1);
        let mut taps = Taps {
            near: Vec::with_capacity(out),
            far: Vec::with_capacity(out),
            weight: Vec::with_capacity(out),
        };
        for i in 0..out {
            let at = (start + (i as f64 + 0.5) * extent / out as f64 - 0.5).clamp(0.0, last as f64);
            let near = (at.floor() as usize).min(last);
            taps.near.push(near);
            taps.far.push((near + 1).min(last));
            taps.weight.push((at - near as f64) as f32);
        }
        taps
    }
}

impl FrameAugment {
    /// Whether any distortion is asked for.
    pub fn any(&self) -> bool {
        self.flip || self.zoom > 0.0
    }

    /// Distorts the `steps` frames in `x` (each `height·width·channels` values) in place,
    /// drawing the flip and the window from `rng` once for the whole sequence.
    pub fn apply(&self, x: &mut [f32], steps: usize, rng: &mut Rng) {
        let flip = self.flip && rng.uniform() < 0.5;
        let window = (self.zoom > 0.0).then(|| self.window(rng));
        let frame_len = self.shape.iter().product::<usize>();
        for frame in x.chunks_exact_mut(frame_len).take(steps) {
            if let Some(w) = window {
                self.crop_and_scale(frame, w);
            }
            if flip {
                self.flip_left_right(frame);
            }
        }
    }

    /// A random window of at least `1 - zoom` of each side.
    fn window(&self, rng: &mut Rng) -> Window {
        let [h, w, _] = self.shape;
        let share = 1.0 - self.zoom * rng.uniform();
        let (height, width) = (h as f64 * share, w as f64 * share);
        Window {
            top: (h as f64 - height) * rng.uniform(),
            left: (w as f64 - width) * rng.uniform(),
            height,
            width,
        }
    }

    /// Mirrors one frame left to right (each pixel's channels kept in order).
    pub fn flip_left_right(&self, frame: &mut [f32]) {
        let [_, w, c] = self.shape;
        for row in frame.chunks_exact_mut(w * c) {
            for x in 0..w / 2 {
                for k in 0..c {
                    row.swap(x * c + k, (w - 1 - x) * c + k);
                }
            }
        }
    }

    /// Replaces one frame by its `window` scaled (bilinearly) to the whole frame.
    fn crop_and_scale(&self, frame: &mut [f32], window: Window) {
        let [h, w, c] = self.shape;
        let rows = Taps::new(h, window.top, window.height, h);
        let cols = Taps::new(w, window.left, window.width, w);
        let source = frame.to_vec();
        let at = |y: usize, x: usize, k: usize| source[(y * w + x) * c + k];
        for y in 0..h {
            let (y0, y1, fy) = (rows.near[y], rows.far[y], rows.weight[y]);
            for x in 0..w {
                let (x0, x1, fx) = (cols.near[x], cols.far[x], cols.weight[x]);
                for k in 0..c {
                    let top = at(y0, x0, k) * (1.0 - fx) + at(y0, x1, k) * fx;
                    let bottom = at(y1, x0, k) * (1.0 - fx) + at(y1, x1, k) * fx;
                    frame[(y * w + x) * c + k] = top * (1.0 - fy) + bottom * fy;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(shape: [usize; 3], steps: usize) -> Vec<f32> {
        (0..steps * shape.iter().product::<usize>())
            .map(|v| (v % 97) as f32 / 97.0)
            .collect()
    }

    #[test]
    fn flip_twice_is_identity() {
        let a = FrameAugment {
            shape: [3, 5, 2],
            flip: true,
            zoom: 0.0,
        };
        let x = frames(a.shape, 1);
        let mut y = x.clone();
        a.flip_left_right(&mut y);
        assert_ne!(y, x);
        // Pixel (row 1, column 0) moved to column 4 with its channels in order.
        assert_eq!(&y[(5 + 4) * 2..(5 + 4) * 2 + 2], &x[5 * 2..5 * 2 + 2]);
        a.flip_left_right(&mut y);
        assert_eq!(y, x);
    }

    #[test]
    fn zoom_of_the_whole_frame_keeps_it_and_a_window_scales_it_up() {
        let a = FrameAugment {
            shape: [4, 4, 1],
            flip: false,
            zoom: 0.5,
        };
        let x = frames(a.shape, 1);
        let mut whole = x.clone();
        let all = Window {
            top: 0.0,
            left: 0.0,
            height: 4.0,
            width: 4.0,
        };
        a.crop_and_scale(&mut whole, all);
        assert!(whole.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-6));
        // The top-left 2×2 scaled to 4×4: every output lies within the window's values.
        let mut zoomed = vec![0f32; 16];
        zoomed[0] = 1.0; // only the top-left pixel lit
        let corner = Window {
            height: 2.0,
            width: 2.0,
            ..all
        };
        a.crop_and_scale(&mut zoomed, corner);
        assert_eq!(zoomed[0], 1.0);
        assert!(zoomed[1] > 0.0 && zoomed[4] > 0.0, "the lit pixel spreads: {zoomed:?}");
        assert!(zoomed[15] == 0.0 && zoomed[3] == 0.0, "{zoomed:?}");
    }

    #[test]
    fn a_sequence_gets_one_flip_and_window_for_all_its_frames() {
        let a = FrameAugment {
            shape: [6, 6, 1],
            flip: true,
            zoom: 0.3,
        };
        let one = frames(a.shape, 1);
        let mut x = [one.clone(), one].concat();
        a.apply(&mut x, 2, &mut Rng::new(5));
        assert_eq!(x[..36], x[36..], "both frames distorted alike");
    }
}
