//! Buffers that start on a cache line. Kernels that stream a weight matrix load whole 64-byte
//! vectors from it; the allocator gives large blocks 16 bytes into a page (glibc's), so every
//! such load straddled two lines. A kept `W_hhᵀ` read that way made a batch's fp32 LSTM
//! inference about a tenth slower than a copy made afresh for each call, which happened to
//! start on a line.

use std::ops::{Deref, DerefMut};

/// Bytes in a cache line, and in one AVX-512 vector.
const LINE: usize = 64;

/// `len` values whose first one sits on a 64-byte boundary (for element types whose size
/// divides 64: `f32`, `u32`, `f64`, bytes).
pub struct Aligned<T> {
    storage: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Copy + Default> Aligned<T> {
    /// `len` default values (zeros).
    pub fn zeroed(len: usize) -> Self {
        let size = std::mem::size_of::<T>().max(1);
        debug_assert_eq!(LINE % size, 0, "an element size that divides a cache line");
        let storage = vec![T::default(); len + LINE / size];
        let start = line_start(&storage);
        Aligned { storage, start, len }
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[T]) -> Self {
        let mut aligned = Self::zeroed(values.len());
        aligned.copy_from_slice(values);
        aligned
    }
}

impl<T> Deref for Aligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl<T> DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// A clone is aligned afresh (a cloned `Vec` may start elsewhere within its line): the values
/// are rotated to the new start, the spare ones filling the gap.
impl<T: Clone> Clone for Aligned<T> {
    fn clone(&self) -> Self {
        let mut storage = self.storage.clone();
        let start = line_start(&storage);
        if start < self.start {
            storage.rotate_left(self.start - start);
        } else {
            storage.rotate_right(start - self.start);
        }
        Aligned {
            storage,
            start,
            len: self.len,
        }
    }
}

/// The first element of `storage` that sits on a line (the allocator aligns to the element
/// at least, so the gap is whole elements).
fn line_start<T>(storage: &[T]) -> usize {
    (LINE - storage.as_ptr() as usize % LINE) % LINE / std::mem::size_of::<T>().max(1)
}

impl<T: std::fmt::Debug> std::fmt::Debug for Aligned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length and element size starts on a line and holds what it was given, clones too.
    #[test]
    fn aligned_buffers_start_on_a_cache_line() {
        for len in [0, 1, 15, 16, 17, 1000, 70_000] {
            let values: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let a = Aligned::from_slice(&values);
            let b = a.clone();
            for buf in [&a, &b] {
                assert_eq!(buf.as_ptr() as usize % LINE, 0, "length {len}");
                assert_eq!(&buf[..], &values[..]);
            }
            let bytes = Aligned::<u8>::zeroed(len);
            assert_eq!((bytes.as_ptr() as usize % LINE, bytes.len()), (0, len));
        }
    }
}
