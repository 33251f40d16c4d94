//! The [`Layer`] trait every layer implements, and [`Param`], a named tensor with its gradient.

use crate::precision::{packed_product, InferencePath, Precision};
use recur_core::lowp::{KernelPath, PackedWeights};
use recur_core::math::dispatch;
use recur_core::{matmul, Float, Rng, Seq, Shape, Transpose};
use std::any::Any;

/// A learnable tensor (or a buffer such as BatchNorm's running mean) with its gradient.
/// `name` is what the matching `torch.nn` module calls it in its `state_dict`.
#[derive(Clone, Debug)]
pub struct Param<T> {
    /// PyTorch's name for this tensor, e.g. `weight_ih_l0`.
    pub name: String,
    /// Shape, PyTorch's layout (Linear `[out, in]`, Conv1d `[out, in, k]`…).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub value: Vec<T>,
    /// Accumulated gradient (empty for buffers).
    pub grad: Vec<T>,
    /// False for buffers that the optimiser must not touch.
    pub trainable: bool,
}

impl<T: Float> Param<T> {
    /// A trainable tensor with a zeroed gradient.
    pub fn new(name: &str, shape: &[usize], value: Vec<T>) -> Self {
        debug_assert_eq!(value.len(), shape.iter().product::<usize>());
        let grad = vec![T::ZERO; value.len()];
        Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            value,
            grad,
            trainable: true,
        }
    }

    /// A non-trainable buffer (no gradient).
    pub fn buffer(name: &str, shape: &[usize], value: Vec<T>) -> Self {
        Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            value,
            grad: Vec::new(),
            trainable: false,
        }
    }

    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// True when the tensor holds no scalars.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

/// Forward-pass context: whether we are training (batch statistics, dropout, a tape for
/// backward), the random stream dropout draws from, and the cores the call may spread over.
pub struct Ctx<'a> {
    /// Training mode.
    pub training: bool,
    /// Randomness for dropout masks.
    pub rng: &'a mut Rng,
    /// Threads this call may run its own parts on, the calling one included (at least 1).
    /// Inference of a batch too small to split across every core hands the spare ones down,
    /// and a bidirectional layer then runs its two directions at once.
    pub threads: usize,
}

impl<'a> Ctx<'a> {
    /// A context on the calling thread alone.
    pub fn new(training: bool, rng: &'a mut Rng) -> Self {
        Ctx {
            training,
            rng,
            threads: 1,
        }
    }

    /// This context, allowed `threads` threads (the calling one included).
    pub fn with_threads(self, threads: usize) -> Self {
        Ctx {
            threads: threads.max(1),
            ..self
        }
    }
}

/// What one training-mode forward call leaves for its backward: the layer's own cache, kept
/// outside the layer so that one layer can run several times in a step (shared weights) and
/// inference can run through `&self` on one model shared by threads and beams.
pub struct Tape(Option<Box<dyn Any + Send>>);

impl Tape {
    /// Nothing recorded (inference, or a layer whose backward needs nothing).
    pub fn empty() -> Self {
        Tape(None)
    }

    /// Records `cache` for the matching backward.
    pub fn new<C: Any + Send>(cache: C) -> Self {
        Tape(Some(Box::new(cache)))
    }

    /// Records `cache` when training, nothing otherwise.
    pub fn when<C: Any + Send>(training: bool, cache: impl FnOnce() -> C) -> Self {
        if training {
            Tape::new(cache())
        } else {
            Tape::empty()
        }
    }

    /// The recorded cache. A tape reaches only the backward of the call that made it, so a
    /// missing or foreign cache is a bug in the caller, not bad input.
    pub fn take<C: Any>(self, layer: &str) -> C {
        match self.0.map(|b| b.downcast::<C>()) {
            Some(Ok(c)) => *c,
            _ => panic!("{layer}: backward needs the tape of a training-mode forward of this layer"),
        }
    }
}

/// A layer with a hand-written forward and backward.
///
/// `forward` runs through `&self` and returns, in training mode, a [`Tape`] with what its
/// backward needs; it takes its input by value so it can keep it on the tape without a copy.
/// `backward` consumes that tape and the gradient of the loss with respect to the output, adds
/// the parameter gradients into each [`Param::grad`] and returns the gradient with respect to
/// the input (with empty `data` when `input_grad` is false: the first layer of a model needs
/// none, and skipping it saves a large GEMM). Both keep the padding invariant of [`Seq`]:
/// padded steps are zero.
pub trait Layer<T: Float>: Send + Sync + CloneLayer<T> {
    /// The layer's type name as written in a config (`"lstm"`, `"dense"`…).
    fn kind(&self) -> &'static str;
    /// What this layer outputs per sequence.
    fn output_shape(&self) -> Shape;
    /// Runs the layer; in training mode the tape holds what backward needs.
    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape);
    /// Back-propagates through the forward call that made `tape`.
    fn backward(&mut self, tape: Tape, dy: Seq<T>, input_grad: bool) -> Seq<T>;
    /// The layer's tensors, in a stable order (none by default).
    fn params(&self) -> Vec<&Param<T>> {
        Vec::new()
    }
    /// The layer's tensors, mutable, in the same order as [`Layer::params`].
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        Vec::new()
    }
    /// Checks an input this layer cannot process correctly even though its shape fits
    /// (e.g. token ids outside an embedding table). Only a first layer's check runs on
    /// user input; later layers receive what earlier ones produce.
    fn check_input(&self, _x: &Seq<T>) -> Result<(), String> {
        Ok(())
    }
    /// True for a layer whose values are set from data before training (Keras's `adapt`),
    /// such as MiniRocket's biases.
    fn needs_adapt(&self) -> bool {
        false
    }
    /// Sets the layer's data-dependent values from a sample of its inputs (see
    /// [`Layer::needs_adapt`]); `rng` draws what the layer samples.
    fn adapt(&mut self, _x: &Seq<T>, _rng: &mut Rng) -> Result<(), String> {
        Ok(())
    }
    /// Whether the layer holds a weight matrix (a trainable tensor of two or more axes): what
    /// a weight product needs, and what elementwise layers (dropout, batch norm, activations,
    /// pooling) lack.
    fn has_weight_matrix(&self) -> bool {
        self.params().iter().any(|p| p.trainable && p.shape.len() >= 2)
    }
    /// Whether int8 would lose this layer's output: MiniRocket's features (proportions, and with
    /// `multi` means and positions in the hundreds beside them) differ by little where the
    /// ridge fitted on them weighs those differences heavily (its standardisation is folded into
    /// the weights), and int8's one scale per row of activations rounds them away. A layer fed
    /// by such a one keeps fp32 products at `--precision int8`.
    fn output_needs_full_precision(&self) -> bool {
        false
    }
    /// Keeps a packed copy of the layer's weight matrices for inference at `precision` (fp32
    /// drops it) and says how the layer will run. Training ignores the copy, and any mutable
    /// access to the weights ([`Layer::params_mut`]) drops it, so it never goes stale. By
    /// default a layer holding a weight matrix (a trainable tensor of two or more axes) has no
    /// reduced kernel and runs in fp32; one without has nothing to reduce.
    fn prepare_inference(&mut self, precision: Precision) -> InferencePath {
        match (self.has_weight_matrix(), precision) {
            (false, _) => InferencePath::NoProducts,
            (true, Precision::Fp32) => InferencePath::AtPrecision,
            (true, _) => InferencePath::Fp32Fallback,
        }
    }
    /// Multiply-adds per valid input step in the forward pass, for throughput reports.
    fn forward_flops_per_step(&self) -> usize {
        2 * self
            .params()
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.len())
            .sum::<usize>()
    }
}

/// An input gradient that was not asked for: the input's layout with no values.
pub fn no_input_grad<T: Float>(like: &Seq<T>, features: usize) -> Seq<T> {
    Seq {
        data: Vec::new(),
        batch: like.batch,
        time: like.time,
        features,
        lengths: like.lengths.clone(),
        sequential: like.sequential,
    }
}

/// Deep copies of boxed layers (replicas for other cores); every `Clone` layer has it.
pub trait CloneLayer<T: Float> {
    /// A deep copy.
    fn clone_box(&self) -> Box<dyn Layer<T>>;
}

impl<T: Float, L: Layer<T> + Clone + 'static> CloneLayer<T> for L {
    fn clone_box(&self) -> Box<dyn Layer<T>> {
        Box::new(self.clone())
    }
}

/// The rows of `seq` that are real steps, as `(row index in [batch*time], is_valid)` — used by
/// per-step layers to skip padding.
pub fn valid_rows<T: Float>(seq: &Seq<T>) -> impl Iterator<Item = usize> + '_ {
    (0..seq.batch).flat_map(move |b| (0..seq.lengths[b]).map(move |t| b * seq.time + t))
}

/// Column sums of a `[rows, cols]` matrix added into `out` (bias gradients).
pub fn add_column_sums<T: Float>(m: &[T], cols: usize, out: &mut [T]) {
    dispatch(
        #[inline(always)]
        || {
            for row in m.chunks_exact(cols) {
                for (o, &v) in out.iter_mut().zip(row) {
                    *o += v;
                }
            }
        },
    )
}

/// A `[rows, bias.len()]` matrix whose every row is `bias`: the starting value of a product
/// that a GEMM then accumulates onto, saving a separate pass to add the bias.
pub fn bias_rows<T: Float>(rows: usize, bias: &[T]) -> Vec<T> {
    // A convolution's output is hundreds of thousands of short rows: a copy per row cost more
    // than the values it wrote, so rows go out in blocks of about 4 KiB.
    let block_rows = (1024 / bias.len().max(1)).clamp(1, rows.max(1));
    let block: Vec<T> = bias.iter().copied().cycle().take(block_rows * bias.len()).collect();
    let mut m = Vec::with_capacity(rows * bias.len());
    for _ in 0..rows / block_rows {
        m.extend_from_slice(&block);
    }
    m.extend_from_slice(&block[..rows % block_rows * bias.len()]);
    m
}

/// A batch shaped as `like` but `features` wide, every step's values `bias` over and over
/// (each pixel of a frame gets the whole bias): the output a convolution's GEMMs then
/// accumulate onto, written once instead of zeroed and then filled. Padded steps hold the
/// bias too; the caller zeroes them once, after its activation.
pub fn bias_like<T: Float>(like: &Seq<T>, features: usize, bias: &[T]) -> Seq<T> {
    Seq {
        data: bias_rows(like.batch * like.time * features / bias.len().max(1), bias),
        batch: like.batch,
        time: like.time,
        features,
        lengths: like.lengths.clone(),
        sequential: like.sequential,
    }
}

/// [`bias_rows`] of `bias` where there is one, else a `[rows, width]` matrix of zeros: where a
/// product with an optional bias accumulates its output.
pub fn bias_or_zero_rows<T: Float>(rows: usize, width: usize, bias: Option<&[T]>) -> Vec<T> {
    match bias {
        Some(b) => bias_rows(rows, b),
        None => vec![T::ZERO; rows * width],
    }
}

/// Writes the transpose of the `rows × cols` matrix `src` (row stride `ld`) into `dst` (row
/// stride `ldd`): `dst[c·ldd + r] = src[r·ld + c]`. Per-step products read a weight laid out
/// this way in place, where they would re-pack its transpose on every call; a training loop
/// lays it out again after each update, so this goes in tiles that keep both the rows read
/// and the columns written in cache.
pub fn transpose<T: Copy>(rows: usize, cols: usize, src: &[T], ld: usize, dst: &mut [T], ldd: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(
        cols <= ld && (rows - 1) * ld + cols <= src.len(),
        "transpose source bounds"
    );
    assert!(
        rows <= ldd && (cols - 1) * ldd + rows <= dst.len(),
        "transpose target bounds"
    );
    const TILE: usize = 16;
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            for c in c0..(c0 + TILE).min(cols) {
                let column = &src[r0 * ld + c..];
                for (i, d) in dst[c * ldd + r0..c * ldd + r1].iter_mut().enumerate() {
                    *d = column[i * ld];
                }
            }
        }
    }
}

/// `grad += tᵀ`, for `t` `[rows, cols]` and `grad` `[cols, rows]`, both row-major.
pub(crate) fn add_transposed<T: Float>(t: &[T], rows: usize, cols: usize, grad: &mut [T]) {
    for (j, row) in grad.chunks_exact_mut(rows).enumerate().take(cols) {
        row.iter_mut().enumerate().for_each(|(i, g)| *g += t[i * cols + j]);
    }
}

/// `x·Wᵀ (+ b)` over every row of `x` (`[rows, n_in]`), `W` as PyTorch stores it (`[n_out,
/// n_in]`). Zero rows without a bias stay zero, so padding needs no care.
pub fn linear<T: Float>(x: &[T], n_in: usize, weight: &[T], n_out: usize, bias: Option<&[T]>) -> Vec<T> {
    linear_packed(x, n_in, weight, None, n_out, bias)
}

/// [`linear`] on `packed`, the weight's reduced-precision copy, when there is one.
pub fn linear_packed<T: Float>(
    x: &[T],
    n_in: usize,
    weight: &[T],
    packed: Option<&PackedWeights>,
    n_out: usize,
    bias: Option<&[T]>,
) -> Vec<T> {
    let rows = x.len() / n_in;
    let mut y = bias_or_zero_rows(rows, n_out, bias);
    if packed_product(packed, KernelPath::Detected, rows, x, n_in, &mut y, n_out, true) {
        return y;
    }
    matmul(
        rows,
        n_out,
        n_in,
        x,
        n_in,
        Transpose::No,
        weight,
        n_in,
        Transpose::Yes,
        &mut y,
        n_out,
        true,
    );
    y
}

/// The backward of [`linear`] given `dy` (zero at padded rows): adds into the weight's and
/// bias's gradients and adds `dy·W` into `dx`.
pub fn linear_backward<T: Float>(
    x: &[T],
    n_in: usize,
    dy: &[T],
    n_out: usize,
    weight: &mut Param<T>,
    bias: Option<&mut Param<T>>,
    dx: &mut [T],
) {
    let rows = x.len() / n_in;
    matmul(
        n_out,
        n_in,
        rows,
        dy,
        n_out,
        Transpose::Yes,
        x,
        n_in,
        Transpose::No,
        &mut weight.grad,
        n_in,
        true,
    );
    if let Some(bias) = bias {
        add_column_sums(dy, n_out, &mut bias.grad);
    }
    matmul(
        rows,
        n_in,
        n_out,
        dy,
        n_out,
        Transpose::No,
        &weight.value,
        n_in,
        Transpose::No,
        dx,
        n_in,
        true,
    );
}

#[cfg(test)]
mod tests {
    use super::transpose;

    /// Every element lands at its mirrored place, for sizes that are not whole tiles and a
    /// source and target wider than the matrix.
    #[test]
    fn transpose_matches_the_definition() {
        let (rows, cols, ld, ldd) = (37, 21, 25, 40);
        let src: Vec<u32> = (0..(rows * ld) as u32).collect();
        let mut dst = vec![u32::MAX; cols * ldd];
        transpose(rows, cols, &src[..(rows - 1) * ld + cols], ld, &mut dst, ldd);
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(dst[c * ldd + r], src[r * ld + c]);
            }
        }
        assert!(dst.iter().enumerate().all(|(i, &v)| i % ldd < rows || v == u32::MAX));
    }
}
