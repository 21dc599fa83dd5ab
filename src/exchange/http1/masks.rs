//! Bit masks of a header section's line ends, 64 bytes at a time: what lets the
//! framer read a whole head by jumping from line start to line start instead of
//! searching each line for its end.

/// The LFs and CRs of one block of up to 64 bytes: bit i stands for byte i. Bytes
/// past the input's end are neither.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Masks {
    pub lf: u64,
    pub cr: u64,
}

/// Block length.
pub(super) const BLOCK: usize = 64;

/// The masks of `bytes[at..at + 64]` (fewer when `bytes` ends before; none when `at`
/// is past its end).
#[inline(always)]
pub(super) fn block_at(bytes: &[u8], at: usize) -> Masks {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        block_sse2(bytes, at)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        block_bytes(bytes.get(at..).unwrap_or_default())
    }
}

/// [`block_at`] sixteen bytes at a time.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn block_sse2(bytes: &[u8], at: usize) -> Masks {
    if let Some(whole) = bytes.get(at..).and_then(<[u8]>::first_chunk::<BLOCK>) {
        return block64(whole);
    }
    if at >= bytes.len() {
        return Masks::default();
    }
    // The block runs past the input's end. With 64 bytes of input, its last 64 bytes,
    // shifted down so that bit 0 stands for byte `at` (1 <= shift < 64): no copy.
    if let Some(last) = bytes.last_chunk::<BLOCK>() {
        let shift = at + BLOCK - bytes.len();
        let m = block64(last);
        return Masks {
            lf: m.lf >> shift,
            cr: m.cr >> shift,
        };
    }
    // A shorter input: its bytes from `at`, padded with zeros (neither LF nor CR).
    let rest = bytes.get(at..).unwrap_or_default();
    let mut pad = [0u8; BLOCK];
    if let Some(head) = pad.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
    }
    block64(&pad)
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn block64(bytes: &[u8; BLOCK]) -> Masks {
    let mut out = Masks::default();
    for at in (0..BLOCK).step_by(16) {
        if let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<16>) {
            let (lf, cr) = classify16(chunk);
            out.lf |= u64::from(lf) << at;
            out.cr |= u64::from(cr) << at;
        }
    }
    out
}

/// The LF and CR masks of sixteen bytes.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn classify16(chunk: &[u8; 16]) -> (u32, u32) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    // SAFETY: the build targets SSE2 (the cfg above), so the CPU has it; the load reads
    // the sixteen bytes of `chunk` (unaligned loads need no alignment).
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let eq = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
        // Sixteen mask bits, the upper ones zero.
        let lf = _mm_movemask_epi8(eq(b'\n')) as u32;
        let cr = _mm_movemask_epi8(eq(b'\r')) as u32;
        (lf, cr)
    }
}

/// [`block`] a byte at a time: the general rule.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
fn block_bytes(bytes: &[u8]) -> Masks {
    let mut out = Masks::default();
    for (i, &b) in bytes.iter().take(BLOCK).enumerate() {
        let bit = 1u64 << i;
        if b == b'\n' {
            out.lf |= bit;
        }
        if b == b'\r' {
            out.cr |= bit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn byte() -> impl Strategy<Value = u8> {
        prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), Just(0u8), any::<u8>(),]
    }

    proptest! {
        /// The block masks agree with the byte rule at every length and offset.
        #[test]
        fn block_masks_match_the_byte_rule(
            data in proptest::collection::vec(byte(), 0..150),
        ) {
            for from in 0..=data.len() + 1 {
                let rest = data.get(from..).unwrap_or_default();
                prop_assert_eq!(block_at(&data, from), block_bytes(rest), "from {}", from);
            }
        }
    }

    #[test]
    fn every_byte_value_is_classified_by_the_byte_rule() {
        let all: Vec<u8> = (0..=255u8).collect();
        for from in 0..all.len() {
            let rest = &all[from..];
            assert_eq!(block_at(&all, from), block_bytes(rest), "from {from}");
            // The same bytes as a shorter input: the padded path.
            let short = &all[from..(from + 40).min(all.len())];
            assert_eq!(block_at(short, 0), block_bytes(short), "from {from}");
        }
        let masks = block_bytes(b"a\r\nb\n\n\r");
        assert_eq!((masks.lf, masks.cr), (0b11_0100, 0b100_0010));
    }
}
