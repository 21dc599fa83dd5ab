//! Per-connection arrays asked to live in transparent huge pages.
//!
//! With hundreds of thousands of connections, the flow table's slab and the exchange
//! tracker's states span tens of MiB that are first touched one 4 KiB page at a time;
//! each of those page faults costs about as much as decoding several packets. Most
//! kernels give huge pages only to memory that asks for them (THP mode `madvise`), so
//! these arrays ask: a few dozen faults instead of thousands. The advice changes no
//! contents and no behaviour; where the kernel has THP disabled it is a no-op.

/// Smallest array worth advising: a huge page is 2 MiB, and a smaller array would
/// make the kernel round its footprint up for nothing.
const MIN_ADVISED_BYTES: usize = 4 << 20;

/// Asks the kernel to back `v`'s allocation (its whole capacity) with huge pages.
pub fn advise<T>(v: &Vec<T>) {
    let bytes = v.capacity().saturating_mul(std::mem::size_of::<T>());
    if bytes < MIN_ADVISED_BYTES {
        return;
    }
    advise_range(v.as_ptr() as usize, bytes);
}

#[cfg(target_os = "linux")]
fn advise_range(start: usize, len: usize) {
    const PAGE: usize = 4096;
    // madvise works on whole pages. The range is widened to the pages holding the
    // allocation's ends: a large allocation is a mapping of its own that starts a page
    // before its first element (the allocator's header), and advising all of it keeps
    // it one mapping, which the allocator can still grow in place (mremap fails on a
    // range that spans mappings, and the growth would become a copy).
    let first = start / PAGE * PAGE;
    let end = (start + len).div_ceil(PAGE) * PAGE;
    // SAFETY: every page in the range holds part of a live allocation of the caller's
    // Vec, so it is mapped. MADV_HUGEPAGE only changes how the kernel backs pages,
    // never their contents or protection, so neighbours sharing the two end pages are
    // unaffected. A failure (THP not built in) is harmless and ignored.
    unsafe {
        libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_range(_start: usize, _len: usize) {}

/// `v.push(item)`, advising the new allocation when the push made the Vec grow.
pub fn push<T>(v: &mut Vec<T>, item: T) {
    if v.len() == v.capacity() {
        v.reserve(1);
        advise(v);
    }
    v.push(item);
}

/// `v.resize_with(len, fill)`, advising the new allocation before it is filled.
pub fn resize_with<T>(v: &mut Vec<T>, len: usize, fill: impl FnMut() -> T) {
    if len > v.capacity() {
        v.reserve(len - v.len());
        advise(v);
    }
    v.resize_with(len, fill);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_through_the_helpers_keeps_every_element() {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..2_000_000u64 {
            push(&mut v, i);
        }
        resize_with(&mut v, 3_000_000, || 7);
        assert_eq!(v.len(), 3_000_000);
        assert!(v[..2_000_000]
            .iter()
            .enumerate()
            .all(|(i, &x)| x == i as u64));
        assert!(v[2_000_000..].iter().all(|&x| x == 7));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_array_is_marked_for_huge_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            return; // a kernel without THP ignores the advice and shows no flag
        }
        // /proc/self/smaps lists the advice as the `hg` flag of the mapping.
        let mut v: Vec<u8> = Vec::with_capacity(16 << 20);
        v.push(1);
        advise(&v);
        let start = v.as_ptr() as usize;
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut in_mapping = false;
        let mut flagged = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((lo, hi)) = range.split_once('-') {
                    if let (Ok(lo), Ok(hi)) =
                        (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                    {
                        in_mapping = lo <= start + (8 << 20) && start + (8 << 20) < hi;
                        continue;
                    }
                }
            }
            if in_mapping && line.starts_with("VmFlags:") {
                flagged = line.split_whitespace().any(|f| f == "hg");
            }
        }
        assert!(flagged, "the middle of the array is not advised");
    }
}
