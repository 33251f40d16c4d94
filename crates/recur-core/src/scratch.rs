//! Buffers kept on each thread from one call to the next, for outputs that are written in
//! full before anything reads them (a recurrent layer's input projection at inference).
//! Allocating such a buffer afresh costs a pass of zeros over megabytes, and on a new thread
//! page faults as well, on every call: 5–9% of an int8 LSTM's inference.

use std::any::Any;
use std::cell::RefCell;

/// Buffers kept per thread at most: enough for a layer's own and its neighbour's.
const KEPT: usize = 4;

thread_local! {
    static BUFFERS: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` values whose contents are unspecified: left from an earlier use on this
/// thread where one is kept (values of `T`, never uninitialised), zeros otherwise. The caller
/// must write every value before reading it. Hand it back with [`give_back`].
pub fn take<T: Copy + Default + 'static>(len: usize) -> Vec<T> {
    let kept = BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        // The smallest that fits: a large buffer shortened for a small request would be zeroed
        // again up to its length when a large one next asks for it.
        let at = (0..b.len())
            .filter_map(|i| Some((i, b[i].downcast_ref::<Vec<T>>()?.capacity())))
            .filter(|&(_, capacity)| capacity >= len)
            .min_by_key(|&(_, capacity)| capacity)?
            .0;
        b.swap_remove(at).downcast::<Vec<T>>().ok()
    });
    match kept {
        Some(mut buf) => {
            // Growth within the capacity writes only the new tail; shrinking writes nothing.
            buf.resize(len, T::default());
            *buf
        }
        None => vec![T::default(); len],
    }
}

/// Keeps `buf` for a later [`take`] on this thread (the largest few are kept).
pub fn give_back<T: Copy + Default + 'static>(buf: Vec<T>) {
    if buf.capacity() == 0 {
        return;
    }
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        b.push(Box::new(buf));
        if b.len() > KEPT {
            // Drop a buffer of another type first (it counts as empty here), else the smallest.
            let size = |x: &Box<dyn Any>| x.downcast_ref::<Vec<T>>().map_or(0, |v| v.capacity());
            let smallest = (0..b.len()).min_by_key(|&i| size(&b[i])).unwrap_or(0);
            b.swap_remove(smallest);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_buffers_are_reused_on_the_same_thread() {
        let mut a = take::<f32>(1000);
        assert_eq!(a.len(), 1000);
        a.fill(3.0);
        let ptr = a.as_ptr();
        give_back(a);
        let b = take::<f32>(800);
        assert_eq!(
            (b.len(), b.as_ptr()),
            (800, ptr),
            "the kept buffer comes back, shortened"
        );
        let other = take::<f64>(10);
        assert_eq!(other, vec![0.0; 10], "another type gets a fresh buffer");
        give_back(b);
        let c = take::<f32>(5000);
        assert_eq!(c.len(), 5000, "a longer request grows a kept buffer or makes a new one");
        let (big, small) = (c.as_ptr(), take::<f32>(100));
        let small_ptr = small.as_ptr();
        give_back(c);
        give_back(small);
        let (fits_small, fits_big) = (take::<f32>(50), take::<f32>(4000));
        assert_eq!(
            fits_small.as_ptr(),
            small_ptr,
            "the smallest buffer that fits is chosen"
        );
        assert_eq!(fits_big.as_ptr(), big);
    }
}
