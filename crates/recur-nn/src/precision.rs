//! Reduced-precision inference: [`Precision`], what a layer reports when asked to run at one
//! ([`InferencePath`]), and the helpers layers use to keep and apply a packed copy of a weight
//! matrix (see `recur_core::lowp`). The packed copy lives with its layer, made once at load
//! by [`crate::Model::prepare_inference`]; training and gradients always use the f32 weights.

use recur_core::lowp::{Format, KernelPath, PackedWeights};
use recur_core::Float;
use std::fmt;
use std::str::FromStr;

/// The number format of an inference run's weight products (gate math and everything between
/// the products stay f32); for training, of the recurrent products (fp32 or bf16).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Full single precision: the model as trained.
    #[default]
    Fp32,
    /// bfloat16 weights and activations, f32 sums.
    Bf16,
    /// int8 weights (per output channel) and activations (per row, dynamic), i32 sums.
    Int8,
}

impl Precision {
    /// The packed format of this precision's products (none for fp32).
    pub fn format(self) -> Option<Format> {
        match self {
            Precision::Fp32 => None,
            Precision::Bf16 => Some(Format::Bf16),
            Precision::Int8 => Some(Format::Int8),
        }
    }

    /// The precision training's products run fastest at on this CPU: bf16 where it has
    /// AVX512-BF16 (Intel's AMX tile unit, where present, runs them several times faster
    /// still), else fp32 (bf16 on AVX2 runs at about fp32's rate, so it would only lose
    /// precision).
    pub fn fastest_training() -> Self {
        match Format::Bf16.fast_path_available() {
            true => Precision::Bf16,
            false => Precision::Fp32,
        }
    }

    /// The kernel training's products run on at this precision here: `gemm` (fp32, the general
    /// GEMM), `amx-bf16`, `avx512-bf16`, `avx2` or `portable` (for reports).
    pub fn training_kernel(self) -> &'static str {
        match training_format(self) {
            None => "gemm",
            Some(_) if KernelPath::amx_available(Format::Bf16) => "amx-bf16",
            Some(format) => format.kernel_name(),
        }
    }

    /// The name `--precision` takes.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fp32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            "int8" => Ok(Precision::Int8),
            _ => Err(format!("unknown precision `{s}`: expected fp32, bf16 or int8")),
        }
    }
}

/// How a layer runs once prepared for inference at a precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InferencePath {
    /// Its weight products run at the asked precision (or it was asked for fp32).
    AtPrecision,
    /// It has no weight products (activations, pooling, lookups): nothing to reduce.
    NoProducts,
    /// It has weight products but no reduced-precision kernel: it runs in fp32.
    Fp32Fallback,
}

/// A packed copy of the weight matrix `w` (`[n, k]`, PyTorch's `[out, in]`) for `precision`,
/// or `None` for fp32 and for models not in f32 (f64 models exist for gradient checks only).
pub(crate) fn pack<T: Float>(precision: Precision, w: &[T], n: usize, k: usize) -> Option<PackedWeights> {
    pack_as(precision.format(), w, n, k)
}

/// [`pack`] for a recurrent layer's weights, which every step multiplies by a few rows: at fp32
/// too, as f32 panels where the CPU runs them (AVX-512). A lone sequence's step streams the
/// whole matrix for one row, 1.2× faster on the panels than through the general GEMM, which
/// also re-packs the weights on every call.
pub(crate) fn pack_recurrent<T: Float>(precision: Precision, w: &[T], n: usize, k: usize) -> Option<PackedWeights> {
    let f32_panels = Some(Format::F32).filter(|f| f.fast_path_available());
    pack_as(precision.format().or(f32_panels), w, n, k)
}

fn pack_as<T: Float>(format: Option<Format>, w: &[T], n: usize, k: usize) -> Option<PackedWeights> {
    let format = format?;
    T::as_f32(w).map(|w| PackedWeights::pack(format, w, n, k))
}

/// `c (+)= a·Wᵀ` on the packed copy, when there is one, on kernel `path`: `a` is `[m, lda]`,
/// `c` `[m, ldc]`. Returns false, having done nothing, when the caller must run its f32
/// product instead.
#[allow(clippy::too_many_arguments)]
pub(crate) fn packed_product<T: Float>(
    packed: Option<&PackedWeights>,
    path: KernelPath,
    m: usize,
    a: &[T],
    lda: usize,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) -> bool {
    match (packed, T::as_f32(a), T::as_f32_mut(c)) {
        (Some(w), Some(a), Some(c)) => {
            w.matmul_on(path, m, a, lda, c, ldc, accumulate);
            true
        }
        _ => false,
    }
}

/// The packed format of training's products at `precision`: bf16 only (fp32 runs the general
/// GEMM; int8 is for inference, and trains as fp32).
fn training_format(precision: Precision) -> Option<Format> {
    (precision == Precision::Bf16).then_some(Format::Bf16)
}

/// `w` (`[n, k]`) packed for a training product at `precision` (bf16), afresh for each pass
/// since the optimiser moves it; `None` at fp32 or int8 and for models not in f32.
pub(crate) fn training_pack<T: Float>(precision: Precision, w: &[T], n: usize, k: usize) -> Option<PackedWeights> {
    pack_as(training_format(precision), w, n, k)
}

/// A packed training product's format and its operands as f32: two read, one written.
type TrainingOperands<'a> = (Format, [&'a [f32]; 2], &'a mut [f32]);

/// The operands of a training product that runs packed (at bf16, for a model in f32).
fn training_operands<'a, T: Float>(
    precision: Precision,
    [a, b]: [&'a [T]; 2],
    out: &'a mut [T],
) -> Option<TrainingOperands<'a>> {
    Some((
        training_format(precision)?,
        [T::as_f32(a)?, T::as_f32(b)?],
        T::as_f32_mut(out)?,
    ))
}

/// Rows (steps of sequences) per packed product of a bf16 weight gradient: the packed
/// gradients of 512 rows (1 MiB for 1,024 outputs) stay in L2 while the tile unit reads them
/// once per 32 rows of inputs.
const GRADIENT_ROWS: usize = 512;

/// `grad += dᵀ·x` at a training precision (bf16), for `d` `[rows, n_out]` (gradients of a
/// product's outputs), `x` `[rows, n_in]` (its inputs) and `grad` `[n_out, n_in]`; returns
/// false, having done nothing, at fp32 or for a model not in f32. Computed as its transpose
/// `xᵀ·d`, `GRADIENT_ROWS` rows at a time: each span's `d` is packed by columns (no
/// transposed copy of the larger operand), its inputs transposed, and the sums added into
/// `grad` transposed at the end.
pub(crate) fn add_weight_grad_at<T: Float>(
    precision: Precision,
    d: &[T],
    n_out: usize,
    x: &[T],
    n_in: usize,
    rows: usize,
    grad: &mut [T],
) -> bool {
    let Some((format, [d, x], grad)) = training_operands(precision, [d, x], grad) else {
        return false;
    };
    let mut grad_t = vec![0.0f32; n_in * n_out];
    let mut x_t = vec![0.0f32; n_in * GRADIENT_ROWS];
    for first in (0..rows).step_by(GRADIENT_ROWS) {
        let span = (rows - first).min(GRADIENT_ROWS);
        let d = PackedWeights::pack_columns(format, &d[first * n_out..(first + span) * n_out], span, n_out);
        crate::layer::transpose(span, n_in, &x[first * n_in..], n_in, &mut x_t, span);
        d.matmul_on(KernelPath::AnyOrder, n_in, &x_t, span, &mut grad_t, n_out, first > 0);
    }
    crate::layer::add_transposed(&grad_t, n_in, n_out, grad);
    true
}

/// `dx += dy·W` at a training precision (bf16), for `W` `[n_out, n_in]` (a product's weights),
/// `dy` `[rows, n_out]` and `dx` `[rows, n_in]`; returns false, having done nothing, at fp32
/// or for a model not in f32.
pub(crate) fn add_input_grad_at<T: Float>(
    precision: Precision,
    dy: &[T],
    w: &[T],
    n_out: usize,
    n_in: usize,
    dx: &mut [T],
) -> bool {
    let Some((format, [dy, w], dx)) = training_operands(precision, [dy, w], dx) else {
        return false;
    };
    // `dy·W = dy·(Wᵀ)ᵀ`: packed by columns, `W` is `Wᵀ` as weights.
    let w_t = PackedWeights::pack_columns(format, w, n_out, n_in);
    w_t.matmul_on(KernelPath::AnyOrder, dy.len() / n_out.max(1), dy, n_out, dx, n_in, true);
    true
}

/// Prepares every model (one, or an ensemble's members) for inference at `precision` (see
/// [`crate::Model::prepare_inference`]); returns the layers that run in fp32, each named once.
pub fn prepare_models<T: Float>(models: &mut [crate::Model<T>], precision: Precision) -> Vec<String> {
    let mut fallbacks: Vec<String> = Vec::new();
    for model in models {
        for name in model.prepare_inference(precision) {
            if !fallbacks.contains(&name) {
                fallbacks.push(name);
            }
        }
    }
    fallbacks
}

/// The line a front end prints (once) when this CPU runs `precision`'s products no faster
/// than fp32: bf16 without AVX512-BF16 (the AVX2 kernel has no bf16 instruction, so it runs at
/// the FMA rate, as fp32 does), or either format without AVX-512 or AVX2 (the portable kernel).
pub fn kernel_note(precision: Precision) -> Option<String> {
    let format = precision.format()?;
    match format.kernel_name() {
        "portable" => Some(format!(
            "--precision {precision}: this CPU has neither AVX-512 nor AVX2, so the products run on the portable kernel, slower than fp32"
        )),
        "avx2" if format == Format::Bf16 => Some(
            "--precision bf16: this CPU has no AVX512-BF16, so the products run at about fp32 speed (int8 is faster here)"
                .to_string(),
        ),
        _ => None,
    }
}

/// The line a front end prints (once) when some layers run in fp32 at `precision` (each named
/// with why, as [`crate::Model::prepare_inference`] gives them).
pub fn fallback_note(precision: Precision, fallbacks: &[String]) -> Option<String> {
    (!fallbacks.is_empty()).then(|| format!("--precision {precision}: in fp32: {}", fallbacks.join(", ")))
}
