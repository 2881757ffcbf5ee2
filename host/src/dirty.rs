//! Which pages of a linear memory an instance has written, asked of the
//! kernel (Linux 6.7+ `PAGEMAP_SCAN` on `/proc/self/pagemap`).
//!
//! A fresh instance's memory is mapped from its initial image (or is
//! zero-filled): a page the guest never wrote is still that mapping, or the
//! shared zero page, or not there at all. A page it wrote became private
//! (copy-on-write) and stays private, even after sandmap puts its contents
//! back, because sandmap only ever copies into it. So every page that is
//! there (in memory or swapped out) and not a page of the image file may
//! differ from the fresh state; `warm.rs` puts those back. The shared zero
//! page is reported apart: it holds zeros, which is right unless the image
//! has data there (a kernel that merges zero-filled pages into it could
//! make that happen).

use std::ops::Range;

/// A run of pages that may differ from the fresh state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    /// Byte offsets in the memory, page-aligned.
    pub range: Range<usize>,
    /// The pages map the shared zero page: they hold zeros.
    pub zero_page: bool,
}

/// Where `/proc/self/pagemap` is read.
#[cfg(target_os = "linux")]
mod scan {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use super::Written;

    /// `struct pm_scan_arg` of `linux/fs.h`.
    #[repr(C)]
    struct ScanArg {
        size: u64,
        flags: u64,
        start: u64,
        end: u64,
        walk_end: u64,
        vec: u64,
        vec_len: u64,
        max_pages: u64,
        category_inverted: u64,
        category_mask: u64,
        category_anyof_mask: u64,
        return_mask: u64,
    }

    /// `struct page_region` of `linux/fs.h`.
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct PageRegion {
        start: u64,
        end: u64,
        categories: u64,
    }

    /// `PAGEMAP_SCAN`: `_IOWR('f', 16, struct pm_scan_arg)`.
    const PAGEMAP_SCAN: u64 = 0xc060_6610;
    const PAGE_IS_FILE: u64 = 1 << 2;
    const PAGE_IS_PRESENT: u64 = 1 << 3;
    const PAGE_IS_SWAPPED: u64 = 1 << 4;
    const PAGE_IS_PFNZERO: u64 = 1 << 5;
    /// Regions asked for per call; more take another call.
    const REGIONS_PER_CALL: usize = 64;

    /// An open `/proc/self/pagemap`.
    pub struct Pagemap {
        file: File,
        regions: Vec<PageRegion>,
    }

    impl Pagemap {
        pub fn open() -> Option<Pagemap> {
            let file = File::open("/proc/self/pagemap").ok()?;
            let mut pagemap = Pagemap {
                file,
                regions: vec![PageRegion::default(); REGIONS_PER_CALL],
            };
            // An empty range: fails where the kernel lacks the call.
            pagemap.scan_range(0, 0, &mut Vec::new()).ok()?;
            Some(pagemap)
        }

        pub fn scan(&mut self, memory: &[u8], out: &mut Vec<Written>) -> io::Result<()> {
            if memory.is_empty() {
                // No pages (and a pointer the kernel may refuse).
                out.clear();
                return Ok(());
            }
            let base = memory.as_ptr() as u64;
            self.scan_range(base, memory.len() as u64, out)
        }

        fn scan_range(&mut self, base: u64, len: u64, out: &mut Vec<Written>) -> io::Result<()> {
            out.clear();
            let end = base + len;
            let mut from = base;
            loop {
                let mut arg = ScanArg {
                    size: size_of::<ScanArg>() as u64,
                    flags: 0,
                    start: from,
                    end,
                    walk_end: 0,
                    vec: self.regions.as_mut_ptr() as u64,
                    vec_len: self.regions.len() as u64,
                    max_pages: 0,
                    // Not a page of the image file...
                    category_inverted: PAGE_IS_FILE,
                    category_mask: PAGE_IS_FILE,
                    // ...and there: in memory or swapped out...
                    category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                    // ...telling zero-page runs apart.
                    return_mask: PAGE_IS_PFNZERO,
                };
                // SAFETY: `arg` is a valid `pm_scan_arg` whose `vec` points
                // at `vec_len` writable `page_region`s that outlive the call;
                // the kernel reads only the page tables of the range, never
                // the memory itself.
                let found = unsafe {
                    libc::ioctl(
                        self.file.as_raw_fd(),
                        PAGEMAP_SCAN as libc::Ioctl,
                        &raw mut arg,
                    )
                };
                let found = usize::try_from(found).map_err(|_| io::Error::last_os_error())?;
                for region in self.regions.iter().take(found) {
                    if region.start < from || region.end > end || region.start > region.end {
                        return Err(io::Error::other("the kernel reported pages out of range"));
                    }
                    out.push(Written {
                        range: (region.start - base) as usize..(region.end - base) as usize,
                        zero_page: region.categories & PAGE_IS_PFNZERO != 0,
                    });
                }
                if arg.walk_end >= end || arg.walk_end <= from {
                    return if arg.walk_end >= end || len == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::other("the page scan made no progress"))
                    };
                }
                from = arg.walk_end;
            }
        }
    }
}

/// Stands in where there is no `/proc/self/pagemap`.
#[cfg(not(target_os = "linux"))]
mod scan {
    use std::io;

    use super::Written;

    pub struct Pagemap;

    impl Pagemap {
        pub fn open() -> Option<Pagemap> {
            None
        }

        pub fn scan(&mut self, _: &[u8], _: &mut Vec<Written>) -> std::io::Result<()> {
            Err(io::Error::other("no page scan here"))
        }
    }
}

/// Finds the written pages of a memory.
pub(crate) struct DirtyPages {
    pagemap: scan::Pagemap,
    written: Vec<Written>,
}

impl DirtyPages {
    /// Opens the process's page map; `None` where the kernel cannot scan
    /// it.
    pub fn open() -> Option<DirtyPages> {
        Some(DirtyPages {
            pagemap: scan::Pagemap::open()?,
            written: Vec::new(),
        })
    }

    /// The byte ranges of `memory` (page-aligned) that may no longer hold
    /// what they held when it was mapped.
    pub fn scan(&mut self, memory: &[u8]) -> std::io::Result<&[Written]> {
        self.pagemap.scan(memory, &mut self.written)?;
        Ok(&self.written)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn written_pages_are_found_and_untouched_ones_are_not() {
        let Some(mut dirty) = DirtyPages::open() else {
            eprintln!("no PAGEMAP_SCAN on this kernel: nothing to test");
            return;
        };
        let page = 4096;
        // Fresh anonymous memory: untouched pages are absent, read ones
        // map the zero page.
        let len = 32 * page;
        // SAFETY: a private anonymous mapping of `len` bytes, unmapped
        // below; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        // SAFETY: the mapping is `len` bytes, readable and writable.
        let region = unsafe { std::slice::from_raw_parts_mut(base.cast::<u8>(), len) };
        let _ = std::hint::black_box(region[5 * page]);
        region[3 * page + 17] = 1;
        region[4 * page] = 1;
        region[20 * page + 4095] = 1;
        let found = dirty.scan(region).unwrap().to_vec();
        let pages = |zero: bool| -> Vec<usize> {
            found
                .iter()
                .filter(|w| w.zero_page == zero)
                .flat_map(|w| (w.range.start / page)..(w.range.end / page))
                .collect()
        };
        assert_eq!(pages(false), [3, 4, 20], "{found:?}");
        assert_eq!(pages(true), [5], "{found:?}");
        // A memory of no pages has none written.
        assert!(dirty.scan(&[]).unwrap().is_empty());
        // SAFETY: unmaps the mapping made above; `region` is not used after.
        unsafe { libc::munmap(base, len) };
    }
}
