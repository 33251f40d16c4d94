//! Element-wise activations: as a stand-alone layer, and fused into dense and conv1d.

use crate::layer::{linear_packed, Ctx, Layer, Tape};
use crate::spec::LayerSpec;
use recur_core::lowp::PackedWeights;
use recur_core::math::dispatch;
use recur_core::{Float, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

/// A stand-alone activation layer's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationConfig {
    /// The function.
    pub activation: Activation,
}

impl LayerSpec for ActivationConfig {
    fn kind(&self) -> &'static str {
        "activation"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        Ok(input)
    }
    fn parameter_count(&self, _input: Shape) -> u64 {
        0
    }
    fn build<T: Float>(&self, input: Shape, _rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(ActivationLayer::new(self.activation, input))
    }
    fn takes_frames(&self) -> bool {
        true
    }
    fn applies_per_step(&self) -> bool {
        true
    }
}

/// An element-wise activation function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Identity.
    #[default]
    Linear,
    /// max(0, x).
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Gaussian error linear unit, exact (erf) form as PyTorch's default.
    Gelu,
}

impl Activation {
    /// Applies the activation in place.
    pub fn apply<T: Float>(self, xs: &mut [T]) {
        match self {
            Activation::Linear => {}
            Activation::Relu => dispatch(
                #[inline(always)]
                || xs.iter_mut().for_each(|x| *x = x.max(T::ZERO)),
            ),
            Activation::Tanh => T::tanh_slice(xs),
            Activation::Sigmoid => T::sigmoid_slice(xs),
            Activation::Gelu => xs.iter_mut().for_each(|x| *x = *x * normal_cdf(*x)),
        }
    }

    /// True when backward needs the pre-activation values kept.
    pub fn needs_input(self) -> bool {
        matches!(self, Activation::Gelu)
    }

    /// What backward will read, from the pre-activation `z` (taken only where
    /// [`Activation::needs_input`]; pass it empty otherwise) and the output `y`.
    pub fn keep<T: Float>(self, z: Vec<T>, y: &[T]) -> Kept<T> {
        match self {
            Activation::Linear => Kept::Nothing,
            // ReLU's output is positive exactly where its input is.
            Activation::Relu => Kept::Relu(dispatch(
                #[inline(always)]
                || y.iter().map(|&v| v > T::ZERO).collect(),
            )),
            Activation::Tanh => Kept::Tanh(y.to_vec()),
            Activation::Sigmoid => Kept::Sigmoid(y.to_vec()),
            Activation::Gelu => Kept::Gelu(z),
        }
    }
}

/// What an activation's backward reads, kept from forward: no more than its derivative needs.
/// A linear activation keeps nothing and a ReLU a byte a value (where its output is positive):
/// copying a convolution's whole output for them cost a pass over memory every training step.
pub enum Kept<T> {
    /// Linear: the derivative is 1.
    Nothing,
    /// Where a ReLU's output is positive.
    Relu(Vec<bool>),
    /// tanh's output.
    Tanh(Vec<T>),
    /// The sigmoid's output.
    Sigmoid(Vec<T>),
    /// GELU's input.
    Gelu(Vec<T>),
}

impl<T: Float> Kept<T> {
    /// Multiplies `grad` in place by the activation's derivative.
    pub fn backward(&self, grad: &mut [T]) {
        match self {
            Kept::Nothing => {}
            Kept::Relu(positive) => dispatch(
                #[inline(always)]
                || {
                    for (g, &p) in grad.iter_mut().zip(positive) {
                        *g = if p { *g } else { T::ZERO };
                    }
                },
            ),
            Kept::Tanh(y) => by_output(grad, y, |g, y| g * (T::ONE - y * y)),
            Kept::Sigmoid(y) => by_output(grad, y, |g, y| g * y * (T::ONE - y)),
            Kept::Gelu(z) => grad.iter_mut().zip(z).for_each(|(g, &z)| {
                let pdf = (-(z * z) / T::from_f64(2.0)).exp() * T::from_f64(0.398_942_280_401_432_7);
                *g *= normal_cdf(z) + z * pdf
            }),
        }
    }
}

/// `grad[i] = f(grad[i], y[i])`, vectorised for the widest unit the CPU has.
#[inline(always)]
fn by_output<T: Float>(grad: &mut [T], y: &[T], f: impl Fn(T, T) -> T) {
    dispatch(
        #[inline(always)]
        || grad.iter_mut().zip(y).for_each(|(g, &y)| *g = f(*g, y)),
    )
}

/// Φ(x), the standard normal CDF, through musl's erf (about 1 ulp).
fn normal_cdf<T: Float>(x: T) -> T {
    T::from_f64(0.5 * (1.0 + libm::erf(x.to_f64() / std::f64::consts::SQRT_2)))
}

/// A stand-alone activation layer (`{"type": "activation", "activation": "relu"}`).
#[derive(Clone)]
pub struct ActivationLayer<T> {
    activation: Activation,
    shape: Shape,
    _values: std::marker::PhantomData<T>,
}

impl<T: Float> ActivationLayer<T> {
    /// An activation over inputs of the given shape.
    pub fn new(activation: Activation, input: Shape) -> Self {
        ActivationLayer {
            activation,
            shape: input,
            _values: std::marker::PhantomData,
        }
    }
}

impl<T: Float> Layer<T> for ActivationLayer<T> {
    fn kind(&self) -> &'static str {
        "activation"
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        // The input is kept only for the activations whose backward reads it (GELU); the
        // others need the output alone, so the values are changed in place.
        let z = if ctx.training && self.activation.needs_input() {
            x.data.clone()
        } else {
            Vec::new()
        };
        let mut y = x;
        self.activation.apply(&mut y.data);
        y.zero_padding();
        let tape = Tape::when(ctx.training, || self.activation.keep(z, &y.data));
        (y, tape)
    }
    fn backward(&mut self, tape: Tape, mut dy: Seq<T>, _input_grad: bool) -> Seq<T> {
        let kept: Kept<T> = tape.take("activation");
        kept.backward(&mut dy.data);
        dy
    }
}

/// `y = act(x·Wᵀ + b)` over `rows` rows (dense, and conv1d after im2col), the product on
/// `packed` (the weight's reduced-precision copy) when given. Returns `y` and, when backward
/// will need it, the pre-activation `z` (empty otherwise).
pub fn affine_forward<T: Float>(
    x: &[T],
    weight: &[T],
    packed: Option<&PackedWeights>,
    bias: &[T],
    activation: Activation,
    keep_pre_activation: bool,
) -> (Vec<T>, Vec<T>) {
    let (n_out, n_in) = (bias.len(), weight.len() / bias.len().max(1));
    let mut y = linear_packed(x, n_in.max(1), weight, packed, n_out, Some(bias));
    let z = if keep_pre_activation && activation.needs_input() {
        y.clone()
    } else {
        Vec::new()
    };
    activation.apply(&mut y);
    (y, z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradients, random_seq};

    #[test]
    fn gradients_match_finite_differences() {
        let shape = Shape::new(3, true);
        for act in [
            Activation::Linear,
            Activation::Relu,
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Gelu,
        ] {
            let mut layer = ActivationLayer::<f64>::new(act, shape);
            check_gradients(&mut layer, &random_seq(2, 4, 3, &[4, 2], 1), 1e-5);
        }
    }
}
