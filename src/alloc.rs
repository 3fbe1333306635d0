//! The global allocator: mimalloc, asked for a plain block whenever the layout's alignment is
//! one every mimalloc block already has.
//!
//! mimalloc's block sizes are whole machine words and its pages start 16-byte aligned, so any
//! block it returns is word aligned. Asking for an aligned block when word alignment is all a
//! layout needs sends allocations down mimalloc's aligned path, which is slower and, for sizes
//! that are not a power of two, takes a block from the next size class up. Layouts that need
//! more (over-aligned types, or an alignment larger than the size) still ask for it.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The proxy's global allocator.
pub struct Allocator;

/// The alignment every mimalloc block has.
const BLOCK_ALIGN: usize = std::mem::size_of::<usize>();

/// Whether a plain block of `size` bytes satisfies an alignment of `align`.
fn plain(align: usize, size: usize) -> bool {
    align <= BLOCK_ALIGN && align <= size
}

// SAFETY: every method passes the caller's pointers and sizes to mimalloc unchanged, and a
// pointer from any mimalloc allocation function may be freed or resized by any other. A plain
// block is only used when its guaranteed alignment meets the layout's.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let block = if plain(layout.align(), layout.size()) {
            unsafe { mi::mi_malloc(layout.size()) }
        } else {
            unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()) }
        };
        block.cast()
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let block = if plain(layout.align(), layout.size()) {
            unsafe { mi::mi_zalloc(layout.size()) }
        } else {
            unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()) }
        };
        block.cast()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let block = if plain(layout.align(), new_size) {
            unsafe { mi::mi_realloc(ptr.cast::<c_void>(), new_size) }
        } else {
            unsafe { mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()) }
        };
        block.cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_writable_and_keep_their_bytes_when_resized() {
        let allocator = Allocator;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 3, 7, 8, 12, 24, 40, 48, 100, 1000, 5000, 70_000, 3 << 20] {
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    continue;
                };
                // SAFETY: the layouts are non-zero; each block is written only within its size
                // and freed once with the layout (or size) it was last given.
                unsafe {
                    let block = allocator.alloc(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "size {size} align {align}");
                    for i in 0..size {
                        block.add(i).write(i as u8);
                    }
                    let grown = allocator.realloc(block, layout, size * 2 + 1);
                    assert_eq!(grown as usize % align, 0, "grown {size} align {align}");
                    assert!((0..size).all(|i| grown.add(i).read() == i as u8));
                    let shrunk = allocator.realloc(
                        grown,
                        Layout::from_size_align(size * 2 + 1, align).expect("valid"),
                        size.div_ceil(2),
                    );
                    assert_eq!(shrunk as usize % align, 0, "shrunk {size} align {align}");
                    assert!((0..size.div_ceil(2)).all(|i| shrunk.add(i).read() == i as u8));
                    allocator.dealloc(
                        shrunk,
                        Layout::from_size_align(size.div_ceil(2), align).expect("valid"),
                    );

                    let zeroed = allocator.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0);
                    assert!((0..size).all(|i| zeroed.add(i).read() == 0));
                    allocator.dealloc(zeroed, layout);
                }
            }
        }
    }
}
