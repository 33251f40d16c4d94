//! The scalar type layers are generic over. f32 is what models run in; f64 exists so that every
//! backward pass can be checked against finite differences without rounding noise.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar usable in layers: arithmetic, conversions and the activation
/// functions (whose f32 versions are fast approximations, see [`crate::math`]).
pub trait Float:
    Copy
    + Default
    + Send
    + Sync
    + Debug
    + Display
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Lossy conversion from f64 (used for constants and initialisation).
    fn from_f64(v: f64) -> Self;
    /// Conversion to f64 (used for reporting and checks).
    fn to_f64(self) -> f64;
    /// Exponential.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Logistic sigmoid 1 / (1 + e^-x).
    fn sigmoid(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// The larger of two values.
    fn max(self, other: Self) -> Self;
    /// True for NaN and infinities.
    fn is_finite(self) -> bool;
    /// Element-wise `tanh` over a slice, vectorised where the type allows.
    fn tanh_slice(xs: &mut [Self]);
    /// Element-wise sigmoid over a slice, vectorised where the type allows.
    fn sigmoid_slice(xs: &mut [Self]);
    /// The slice itself when `Self` is f32, else `None`: the reduced-precision kernels
    /// ([`crate::lowp`]) take f32 activations.
    fn as_f32(xs: &[Self]) -> Option<&[f32]>;
    /// The mutable slice itself when `Self` is f32, else `None`.
    fn as_f32_mut(xs: &mut [Self]) -> Option<&mut [f32]>;
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp(self) -> Self {
        crate::math::exp_f32(self)
    }
    fn ln(self) -> Self {
        f32::ln(self)
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        crate::math::tanh_f32(self)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        crate::math::sigmoid_f32(self)
    }
    fn abs(self) -> Self {
        f32::abs(self)
    }
    fn max(self, other: Self) -> Self {
        f32::max(self, other)
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    #[inline(always)]
    fn tanh_slice(xs: &mut [Self]) {
        crate::math::tanh_slice_f32(xs)
    }
    #[inline(always)]
    fn sigmoid_slice(xs: &mut [Self]) {
        crate::math::sigmoid_slice_f32(xs)
    }
    fn as_f32(xs: &[Self]) -> Option<&[f32]> {
        Some(xs)
    }
    fn as_f32_mut(xs: &mut [Self]) -> Option<&mut [f32]> {
        Some(xs)
    }
}

impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + f64::exp(-self))
    }
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn max(self, other: Self) -> Self {
        f64::max(self, other)
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    #[inline(always)]
    fn tanh_slice(xs: &mut [Self]) {
        xs.iter_mut().for_each(|x| *x = x.tanh());
    }
    #[inline(always)]
    fn sigmoid_slice(xs: &mut [Self]) {
        xs.iter_mut().for_each(|x| *x = Float::sigmoid(*x));
    }
    fn as_f32(_: &[Self]) -> Option<&[f32]> {
        None
    }
    fn as_f32_mut(_: &mut [Self]) -> Option<&mut [f32]> {
        None
    }
}
