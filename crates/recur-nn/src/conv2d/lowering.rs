//! The im2col lowering of a 2D window over frames, shared by `conv2d` and `conv3d`: each
//! output pixel's row gathers its taps (row, column, then channel, so a tap's channels are one
//! contiguous copy of the channels-last input), and its adjoint, col2im; and the GEMM around it
//! (bias, activation, the weight laid out as the rows are).

use super::Window2d;
use crate::activation::Activation;
use crate::layer::add_column_sums;
use recur_core::{matmul, Float, Frame, Transpose};
use std::ops::Range;

/// A 2D window over `input` frames giving `output` pixels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lowering {
    pub window: Window2d,
    pub input: Frame,
    /// The output frame (only its height and width matter here).
    pub output: Frame,
}

/// Where one kernel row of one output pixel reads: its taps side by side in the frame (from
/// this offset), all in padding, or tap by tap (at the frame's left or right edge, or dilated:
/// the row's first pixel and the first tap's column).
#[derive(Clone, Copy)]
enum KernelRow {
    Inside(usize),
    Padding,
    Edge((usize, isize)),
}

impl Lowering {
    /// Values one frame contributes to an output pixel's row: every tap's channels.
    pub fn part_len(&self) -> usize {
        self.window.rows.kernel_size * self.window.cols.kernel_size * self.input.channels
    }

    /// The rows of `frames` (channels last, one after another) into `rows`: output pixel `p`
    /// of frame `n` gets row `n·pixels + p`. A kernel row whose taps all fall inside the frame
    /// is one copy (taps are adjacent pixels, and a pixel's channels are adjacent values).
    pub fn im2col<T: Float>(&self, frames: &[T], rows: &mut [T]) {
        let c = self.input.channels;
        self.each_kernel_row(frames.len(), |frame, out, src| {
            let n = out.len();
            match src {
                KernelRow::Inside(at) => rows[out].copy_from_slice(&frames[frame + at..frame + at + n]),
                KernelRow::Padding => rows[out].fill(T::ZERO),
                KernelRow::Edge(edge) => {
                    for (j, dst) in rows[out].chunks_exact_mut(c).enumerate() {
                        match self.tap(edge, j) {
                            Some(at) => dst.copy_from_slice(&frames[frame + at..frame + at + c]),
                            None => dst.fill(T::ZERO),
                        }
                    }
                }
            }
        });
    }

    /// The adjoint of [`Lowering::im2col`]: adds each row value back onto the input value it
    /// came from.
    pub fn col2im<T: Float>(&self, rows: &[T], frames: &mut [T]) {
        let c = self.input.channels;
        let add = |dst: &mut [T], src: &[T]| dst.iter_mut().zip(src).for_each(|(d, &g)| *d += g);
        self.each_kernel_row(frames.len(), |frame, out, src| {
            let n = out.len();
            match src {
                KernelRow::Inside(at) => add(&mut frames[frame + at..frame + at + n], &rows[out]),
                KernelRow::Padding => {}
                KernelRow::Edge(edge) => {
                    for (j, src) in rows[out].chunks_exact(c).enumerate() {
                        if let Some(at) = self.tap(edge, j) {
                            add(&mut frames[frame + at..frame + at + c], src);
                        }
                    }
                }
            }
        });
    }

    /// Where tap `j` of a kernel row at a frame's edge reads, if inside the frame.
    fn tap(&self, (line, x0): (usize, isize), j: usize) -> Option<usize> {
        let x = x0 + (j * self.window.cols.dilation_rate) as isize;
        (0..self.input.width as isize)
            .contains(&x)
            .then(|| (line + x as usize) * self.input.channels)
    }

    /// Calls `f(frame offset, range in the rows, source)` for every kernel row of every output
    /// pixel of the `values / frame size` frames: where in the frame its taps read.
    fn each_kernel_row(&self, values: usize, mut f: impl FnMut(usize, Range<usize>, KernelRow)) {
        let (r, col, input) = (self.window.rows, self.window.cols, self.input);
        let (c, kw, stride) = (input.channels, col.kernel_size, self.part_len());
        let (top, left) = (r.left_pad(input.height) as isize, col.left_pad(input.width) as isize);
        let (out_h, out_w) = (self.output.height, self.output.width);
        for n in 0..values / input.len() {
            let (frame, first_row) = (n * input.len(), n * self.output.pixels() * stride);
            for oy in 0..out_h {
                for ox in 0..out_w {
                    let x0 = (ox * col.strides) as isize - left;
                    let last = x0 + ((kw - 1) * col.dilation_rate) as isize;
                    let whole = col.dilation_rate == 1 && x0 >= 0 && last < input.width as isize;
                    let row = first_row + (oy * out_w + ox) * stride;
                    for i in 0..r.kernel_size {
                        let out = row + i * kw * c..row + (i + 1) * kw * c;
                        let y = (oy * r.strides + i * r.dilation_rate) as isize - top;
                        let source = if y < 0 || y >= input.height as isize {
                            KernelRow::Padding
                        } else if whole {
                            KernelRow::Inside((y as usize * input.width + x0 as usize) * c)
                        } else {
                            KernelRow::Edge((y as usize * input.width, x0))
                        };
                        f(frame, out, source);
                    }
                }
            }
        }
    }
}

/// A weight `[out, in, taps…]` (PyTorch's layout) as `[out, tap, in]`, the layout of the
/// im2col rows.
pub(crate) fn taps_outermost<T: Float>(weight: &[T], channels: usize, taps: usize) -> Vec<T> {
    let mut w = vec![T::ZERO; weight.len()];
    for (o, filter) in weight.chunks_exact(channels * taps).enumerate() {
        for (ch, kernel) in filter.chunks_exact(taps).enumerate() {
            for (tap, &v) in kernel.iter().enumerate() {
                w[(o * taps + tap) * channels + ch] = v;
            }
        }
    }
    w
}

/// Adds a gradient laid out `[out, tap, in]` into a weight's (`[out, in, taps…]`).
pub(crate) fn add_taps_outermost<T: Float>(grad: &mut [T], g: &[T], channels: usize, taps: usize) {
    for (o, filter) in grad.chunks_exact_mut(channels * taps).enumerate() {
        for (ch, kernel) in filter.chunks_exact_mut(taps).enumerate() {
            for (tap, v) in kernel.iter_mut().enumerate() {
                *v += g[(o * taps + tap) * channels + ch];
            }
        }
    }
}

/// `out = act(out + rows·Wᵀ)` for im2col `rows` of `row_len` values and `w` as
/// [`taps_outermost`] lays it out, `out` holding the bias in every pixel ([`bias_like`]), so
/// the GEMM accumulates straight onto it. The activation's input is copied into `z` (as long
/// as `out`) when given (training, for an activation whose backward needs it).
///
/// [`bias_like`]: crate::layer::bias_like
pub(crate) fn lowered_forward<T: Float>(
    rows: &[T],
    row_len: usize,
    w: &[T],
    activation: Activation,
    out: &mut [T],
    z: Option<&mut [T]>,
) {
    let filters = w.len() / row_len;
    let pixels = out.len() / filters;
    #[rustfmt::skip]
    matmul(pixels, filters, row_len, rows, row_len, Transpose::No, w, row_len, Transpose::Yes, out, filters, true);
    if let Some(z) = z {
        z.copy_from_slice(out);
    }
    activation.apply(out);
}

/// The backward of [`lowered_forward`] for one block of rows, given the output gradient `g`
/// (after the activation's backward): adds `gᵀ·rows` into `dw` (`[out, tap, in]`) and `g`'s
/// column sums into `bias_grad`, and when `drows` is given, sets it to `g·W`.
pub(crate) fn lowered_backward<T: Float>(
    rows: &[T],
    row_len: usize,
    w: &[T],
    g: &[T],
    dw: &mut [T],
    bias_grad: &mut [T],
    drows: Option<&mut Vec<T>>,
) {
    let filters = bias_grad.len();
    let pixels = g.len() / filters;
    #[rustfmt::skip]
    matmul(filters, row_len, pixels, g, filters, Transpose::Yes, rows, row_len, Transpose::No, dw, row_len, true);
    add_column_sums(g, filters, bias_grad);
    if let Some(drows) = drows {
        drows.resize(pixels * row_len, T::ZERO);
        #[rustfmt::skip]
        matmul(pixels, row_len, filters, g, filters, Transpose::No, w, row_len, Transpose::No, drows, row_len, false);
    }
}
