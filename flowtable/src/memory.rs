//! Start-up memory for a table's big arrays, backed by huge pages when the
//! kernel gives them.
//!
//! Why: with a million sessions the index lines and the session entries are
//! tens of megabytes, read at random. With 4 KB pages nearly every such read is
//! also a TLB miss, and in a virtual machine that miss is a *nested* page walk
//! that can cost more than the read itself (measured on the project's KVM
//! guests: 62–132 ns per independent random read over ~138 MB with 4 KB pages,
//! 20–36 ns with 2 MB pages). DPDK-style dataplanes back their flow tables with
//! huge pages for this reason; here every table does it by itself.
//!
//! How: each array is an anonymous private mapping (`memmap2`, zero-filled by
//! the kernel, faulted in lazily) advised `MADV_HUGEPAGE`, which works with the
//! usual `transparent_hugepage = madvise` setting without any system
//! configuration. Arrays of 2 MB or more are rounded up to whole 2 MB pages so
//! that the kernel aligns them to a huge-page boundary. Elements are plain
//! old data (`bytemuck::Pod`), so the byte mapping is viewed as `[T]` without
//! `unsafe`.
//!
//! Fallback: when the advice is refused (a kernel without transparent huge
//! pages, or `never`), or when the caller asks for [`PagePolicy::Plain`], the
//! same mapping simply stays on ordinary pages; [`Backing`] says which one an
//! array got, and the table counts the bytes of each kind in its
//! [`TableStats`](crate::TableStats) so that `show`/metrics can tell. Whether
//! the kernel then really used huge pages (it may not, when memory is
//! fragmented) shows in `AnonHugePages` of `/proc/self/smaps`.

use core::marker::PhantomData;

use bytemuck::Pod;
use memmap2::{Advice, MmapMut, MmapOptions};

/// Size of a transparent huge page on x86-64 and most arm64 kernels.
pub const HUGE_PAGE: usize = 2 << 20;

/// How a table asks for its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PagePolicy {
    /// Advise huge pages; keep ordinary pages when refused (the default).
    #[default]
    HugePages,
    /// Ordinary pages only (tests, or a host where huge pages hurt).
    Plain,
}

/// What an array actually got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// The kernel accepted the huge-page advice for the mapping.
    HugePages,
    /// Ordinary pages (advice refused, not asked for, or the array is smaller
    /// than one huge page).
    Plain,
}

/// A fixed-length, zero-initialised array of `T` in its own anonymous mapping.
#[derive(Debug)]
pub struct PageArray<T> {
    map: MmapMut,
    len: usize,
    backing: Backing,
    _t: PhantomData<T>,
}

impl<T: Pod> PageArray<T> {
    /// `len` zeroed elements (at least one is mapped, so that a zero-length
    /// array still has a valid mapping). Fails only when the mapping itself
    /// fails (out of address space or memory).
    pub fn zeroed(len: usize, policy: PagePolicy) -> std::io::Result<PageArray<T>> {
        let size = core::mem::size_of::<T>().max(1);
        let bytes = len
            .max(1)
            .checked_mul(size)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        let huge = policy == PagePolicy::HugePages && bytes >= HUGE_PAGE;
        // Whole huge pages (a multiple of any power-of-two element size), so
        // that the view below covers the mapping exactly.
        let mapped = if huge && HUGE_PAGE.is_multiple_of(size) {
            bytes
                .checked_next_multiple_of(HUGE_PAGE)
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?
        } else {
            bytes
        };
        let map = MmapOptions::new().len(mapped).map_anon()?;
        let backing = if huge && map.advise(Advice::HugePage).is_ok() {
            Backing::HugePages
        } else {
            Backing::Plain
        };
        let array = PageArray {
            map,
            len,
            backing,
            _t: PhantomData,
        };
        // The mapping is page aligned; check once that the view is valid (a
        // `T` aligned beyond a page would fail here, never later).
        let _ = array.as_slice();
        Ok(array)
    }

    /// The elements: at least [`len`](Self::len) of them (the rest of the
    /// last huge page, zeroed, is visible too; callers index below `len`).
    #[inline(always)]
    pub fn as_slice(&self) -> &[T] {
        bytemuck::cast_slice(&self.map)
    }

    /// The elements, mutably (see [`as_slice`](Self::as_slice)).
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        bytemuck::cast_slice_mut(&mut self.map)
    }

    /// Number of elements asked for.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the elements (what the array costs, before page rounding).
    pub fn bytes(&self) -> usize {
        self.len * core::mem::size_of::<T>()
    }

    /// Bytes mapped (rounded up to whole pages).
    pub fn mapped_bytes(&self) -> usize {
        self.map.len()
    }

    /// What the array got.
    pub fn backing(&self) -> Backing {
        self.backing
    }
}

/// `AnonHugePages` of this process in kB (`/proc/self/smaps_rollup`): how
/// much anonymous memory the kernel really put on huge pages, for benchmark
/// and example reports (0 where `/proc` is unavailable).
pub fn process_anon_huge_kb() -> u64 {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("AnonHugePages:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Whether this kernel accepts the huge-page advice at all (asked on a
/// throwaway huge-page-sized mapping that is never touched). The index and
/// the value slots are advised by their allocator (`hugealloc`), which does
/// not report the outcome; this is how the table learns it for its stats.
pub(crate) fn huge_advice_accepted() -> bool {
    PageArray::<u8>::zeroed(HUGE_PAGE, PagePolicy::HugePages)
        .is_ok_and(|probe| probe.backing() == Backing::HugePages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C, align(64))]
    struct Line {
        words: [u64; 8],
    }

    #[test]
    fn zeroed_writable_and_sized() {
        let mut a: PageArray<Line> = PageArray::zeroed(1000, PagePolicy::HugePages).unwrap();
        assert_eq!(a.len(), 1000);
        assert_eq!(a.bytes(), 64_000);
        assert!(a.as_slice().iter().all(|l| l.words == [0; 8]));
        assert_eq!(a.as_slice().len(), 1000);
        a.as_mut_slice()[999].words[7] = 42;
        assert_eq!(a.as_slice()[999].words[7], 42);
        // Below one huge page the advice is not even asked for.
        assert_eq!(a.backing(), Backing::Plain);
    }

    #[test]
    fn big_arrays_are_advised_and_rounded_to_huge_pages() {
        let n = (HUGE_PAGE + 1) / 64 + 1;
        let mut a: PageArray<Line> = PageArray::zeroed(n, PagePolicy::HugePages).unwrap();
        assert_eq!(a.mapped_bytes() % HUGE_PAGE, 0);
        assert!(a.mapped_bytes() >= a.bytes());
        assert_eq!(a.as_slice().len(), a.mapped_bytes() / 64);
        // Kernels without transparent huge pages refuse the advice: either way
        // the array works.
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|s| !s.contains("[never]"));
        if thp {
            assert_eq!(a.backing(), Backing::HugePages);
        }
        a.as_mut_slice()[n - 1].words[0] = 7;
        assert_eq!(a.as_slice()[n - 1].words[0], 7);
    }

    #[test]
    fn plain_policy_is_the_fallback_path() {
        let n = 2 * HUGE_PAGE / 64;
        let mut a: PageArray<Line> = PageArray::zeroed(n, PagePolicy::Plain).unwrap();
        assert_eq!(a.backing(), Backing::Plain);
        assert_eq!(a.mapped_bytes(), a.bytes());
        a.as_mut_slice()[n / 2].words[3] = 3;
        assert_eq!(a.as_slice()[n / 2].words[3], 3);
    }

    #[test]
    fn empty_array_maps_one_element() {
        let a: PageArray<u64> = PageArray::zeroed(0, PagePolicy::HugePages).unwrap();
        assert!(a.is_empty());
        assert_eq!(a.as_slice(), &[0u64]);
        assert!(a.mapped_bytes() >= 8);
    }

    #[test]
    fn absurd_length_is_an_error_not_a_panic() {
        assert!(PageArray::<Line>::zeroed(usize::MAX / 2, PagePolicy::HugePages).is_err());
    }
}
