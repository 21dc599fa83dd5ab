//! A growable array stored in fixed-size chunks, for the per-connection states (the
//! flow table's slab, the exchange tracker's states).
//!
//! A `Vec` doubles by moving everything it holds: with 200,000 connections of ~200
//! bytes that is a 40 MB copy, and old and new buffers are both resident while it
//! happens. Chunks never move: growing adds one, and an element keeps its address for
//! as long as it lives.

use std::ops::{Index, IndexMut};

/// log2 of the elements per chunk.
const CHUNK_BITS: u32 = 12;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;

pub struct ChunkedVec<T> {
    /// Every chunk but the last is full; each was allocated with `CHUNK_LEN` capacity
    /// and never reallocates.
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkedVec<T> {
    fn default() -> Self {
        ChunkedVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> ChunkedVec<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Elements it can hold before it allocates again.
    pub fn capacity(&self) -> usize {
        self.chunks.len() * CHUNK_LEN
    }

    pub fn push(&mut self, value: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK_LEN => last.push(value),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK_LEN);
                chunk.push(value);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// Appends elements made by `fill` until the length is `len` (never shrinks).
    pub fn resize_with(&mut self, len: usize, mut fill: impl FnMut() -> T) {
        while self.len < len {
            self.push(fill());
        }
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & (CHUNK_LEN - 1))
    }

    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks
            .get_mut(i >> CHUNK_BITS)?
            .get_mut(i & (CHUNK_LEN - 1))
    }
}

impl<T> Index<usize> for ChunkedVec<T> {
    type Output = T;

    /// Panics when `i` is out of bounds, as a slice does.
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK_LEN - 1)]
    }
}

impl<T> IndexMut<usize> for ChunkedVec<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK_LEN - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_vec_across_chunk_boundaries() {
        let mut chunked = ChunkedVec::new();
        let mut plain = Vec::new();
        assert!(chunked.is_empty());
        for i in 0..3 * CHUNK_LEN + 5 {
            chunked.push(i);
            plain.push(i);
        }
        chunked.resize_with(4 * CHUNK_LEN + 1, || 7);
        plain.resize_with(4 * CHUNK_LEN + 1, || 7);
        assert_eq!(chunked.len(), plain.len());
        assert_eq!(chunked.capacity(), 5 * CHUNK_LEN);
        for (i, value) in plain.iter().enumerate() {
            assert_eq!(chunked.get(i), Some(value));
            assert_eq!(chunked[i], *value);
        }
        assert_eq!(chunked.get(plain.len()), None);
        assert_eq!(chunked.get(usize::MAX), None);
        chunked[CHUNK_LEN] = 42;
        *chunked.get_mut(CHUNK_LEN + 1).unwrap() = 43;
        assert_eq!((chunked[CHUNK_LEN], chunked[CHUNK_LEN + 1]), (42, 43));
        assert_eq!(chunked.get_mut(plain.len()), None);
    }

    #[test]
    fn elements_do_not_move_when_it_grows() {
        let mut chunked = ChunkedVec::new();
        chunked.push(1u64);
        let first: *const u64 = &chunked[0];
        for i in 0..10 * CHUNK_LEN as u64 {
            chunked.push(i);
        }
        assert_eq!(first, &chunked[0] as *const u64);
    }
}
