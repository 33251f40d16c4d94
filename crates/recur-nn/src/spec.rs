//! [`LayerSpec`]: what a layer's settings know before any weight exists. Each layer's file
//! holds its settings (a serde struct with its defaults) and implements this trait beside the
//! layer itself, so adding a layer is one file plus one line in [`crate::config`]'s list.

use crate::layer::Layer;
use recur_core::{Float, Rng, Shape};

/// A layer's settings: validated against an input shape, sized and built.
pub trait LayerSpec {
    /// The `type` a config names the layer by (`"lstm"`, `"conv2d"`…).
    fn kind(&self) -> &'static str;

    /// Checks the settings against the input shape and returns the output shape, or says
    /// what is wrong (the caller prefixes the layer's place in the model).
    fn output_shape(&self, input: Shape) -> Result<Shape, String>;

    /// Scalars the layer will hold (weights and buffers) for this input, known before it is
    /// built; widths are bounded by [`crate::spec::MAX_WIDTH`], so only factors that are not
    /// widths need saturating products.
    fn parameter_count(&self, input: Shape) -> u64;

    /// Builds the layer with fresh weights drawn from `rng`.
    fn build<T: Float>(&self, input: Shape, rng: &mut Rng) -> Box<dyn Layer<T>>;

    /// Builds the layer for a checkpoint to overwrite. Initialisers that are linear in the
    /// weights cost no more than zeroing, so by default this is [`LayerSpec::build`]; layers
    /// whose initialiser is expensive (orthogonal matrices) build zeros instead.
    fn build_for_loading<T: Float>(&self, input: Shape) -> Box<dyn Layer<T>> {
        self.build(input, &mut Rng::new(0))
    }

    /// How a model summary names the layer: its kind, wrapped as a bidirectional recurrent
    /// layer's is (`bidirectional(lstm)`).
    fn summary_kind(&self) -> String {
        self.kind().to_string()
    }

    /// True for a layer that takes image frames (`Shape::frame`); every other layer refuses
    /// them with a message saying how to turn frames into vectors.
    fn takes_frames(&self) -> bool {
        false
    }

    /// True for a layer that works on each step (or vector) on its own and so needs no
    /// folding of time into the batch when wrapped in `time_distributed`.
    fn applies_per_step(&self) -> bool {
        false
    }
}

/// `Err` naming a size setting (units, filters, a kernel's length, an embedding's rows…) below
/// 1 or beyond [`MAX_WIDTH`]. Every size a layer is given goes through here in its
/// `output_shape`, before it is multiplied (a bidirectional layer's `2 × units` wrapped
/// around to 0 for `units` 2^63) or anything is allocated.
pub fn size(name: &str, v: usize) -> Result<(), String> {
    if v == 0 {
        return Err(format!("{name} must be at least 1"));
    }
    at_most_width(name, v)
}

/// `Err` naming a rate outside [0, 1).
pub fn rate(name: &str, v: f64) -> Result<(), String> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name} must be in [0, 1), got {v}"))
    }
}

/// `Err` unless the input has a time axis.
pub fn needs_time(input: Shape) -> Result<(), String> {
    if input.sequential {
        Ok(())
    } else {
        Err("needs a sequence input, but the previous layer returns one vector per sequence".to_string())
    }
}

/// `Err` naming a size beyond [`crate::spec::MAX_WIDTH`] (a span that would overflow or run
/// for hours).
pub fn at_most_width(name: &str, v: usize) -> Result<(), String> {
    let most = crate::spec::MAX_WIDTH;
    if v > most {
        Err(format!("{name} {v} is more than recur allows ({most})"))
    } else {
        Ok(())
    }
}

/// Declares a layer type without settings (`{"type": "global_max_pool"}`) and its spec: its
/// kind, its output shape from the input (`$input`), and the layer it builds for that input;
/// `frames` says whether it takes frames.
macro_rules! settingless_layer {
    ($(#[$doc:meta])* $name:ident, $kind:literal, frames: $frames:literal,
     |$input:ident| shape: $shape:expr, build: $build:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {}

        impl $crate::spec::LayerSpec for $name {
            fn kind(&self) -> &'static str {
                $kind
            }
            fn output_shape(&self, $input: Shape) -> Result<Shape, String> {
                $shape
            }
            fn parameter_count(&self, _input: Shape) -> u64 {
                0
            }
            fn build<T: Float>(&self, $input: Shape, _rng: &mut recur_core::Rng) -> Box<dyn Layer<T>> {
                Box::new($build)
            }
            fn takes_frames(&self) -> bool {
                $frames
            }
        }
    };
}
pub(crate) use settingless_layer;

/// The largest width any layer may have: far beyond any real sequence model, and small enough
/// that sizes multiplied together cannot overflow.
pub const MAX_WIDTH: usize = 1 << 20;

/// `(batch, time, f)` or `(batch, f)`; frames as `(batch, time, height, width, channels)`.
pub fn describe(shape: Shape) -> String {
    let step = match shape.frame {
        Some(f) => format!("{}, {}, {}", f.height, f.width, f.channels),
        None => shape.features.to_string(),
    };
    if shape.sequential {
        format!("(batch, time, {step})")
    } else {
        format!("(batch, {step})")
    }
}
