//! The binaries' allocator. Both binaries (`atif-drift`, `cargo xtask`, so that `cargo xtask
//! bench` measures what users run) call [`use_jemalloc!`](crate::use_jemalloc) once, at their
//! root.
//!
//! jemalloc, with freed memory returned to the OS after 1 s ([`MALLOC_CONF`]): each stage of
//! a drift frees what the next allocates, mostly from other threads, and the short decay hands
//! that memory back between the long stages of a large run (the measurement that chose it is in
//! ARCHITECTURE.md's performance notes).

/// jemalloc's options, read when it starts (before `main`): freed ("dirty") pages go back to
/// the OS after 1 s, without the intermediate lazily-freed ("muzzy") state. The environment
/// variable `_RJEM_MALLOC_CONF` still overrides them.
pub const MALLOC_CONF: &std::ffi::CStr = c"dirty_decay_ms:1000,muzzy_decay_ms:0";

#[cfg(not(target_env = "msvc"))]
#[doc(hidden)]
pub use tikv_jemallocator::Jemalloc;

/// An allocator that ends the process with a clear message and exit code 2 when `A` cannot
/// allocate, instead of Rust's abort (SIGABRT, exit 134): an input too large for the machine
/// is an error of the run, reported as the others are.
pub struct Guarded<A>(pub A);

/// Write the out-of-memory message and exit 2, without allocating.
#[cold]
fn out_of_memory(size: usize) -> ! {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = size;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let parts: [&[u8]; 3] = [
        b"error: out of memory: an allocation of ",
        &digits[i..],
        b" bytes failed; the input is too large for this machine's memory \
          (try a smaller input, or a machine with more memory)\n",
    ];
    #[cfg(unix)]
    // SAFETY: writing byte buffers we own to standard error, then exiting without running
    // destructors or allocating.
    unsafe {
        for p in parts {
            libc::write(2, p.as_ptr().cast(), p.len());
        }
        libc::_exit(2)
    }
    #[cfg(not(unix))]
    {
        let _ = parts;
        std::process::exit(2)
    }
}

// SAFETY: every call is forwarded to `A` unchanged; a null result (which callers of these
// methods must handle) never returns: the process ends.
unsafe impl<A: std::alloc::GlobalAlloc> std::alloc::GlobalAlloc for Guarded<A> {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = self.0.alloc(layout);
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = self.0.alloc_zeroed(layout);
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        self.0.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let p = self.0.realloc(ptr, layout, new_size);
        if p.is_null() {
            out_of_memory(new_size);
        }
        p
    }
}

/// Makes jemalloc, with [`MALLOC_CONF`] and behind [`Guarded`], the global allocator of the binary it is called in.
/// jemalloc reads the options from the symbol `_rjem_malloc_conf` (tikv-jemalloc-sys prefixes
/// jemalloc's symbols with `_rjem_`), which only a binary can define. Does nothing with MSVC,
/// where jemalloc does not build.
#[macro_export]
macro_rules! use_jemalloc {
    () => {
        #[cfg(not(target_env = "msvc"))]
        #[global_allocator]
        static ALLOC: $crate::alloc::Guarded<$crate::alloc::Jemalloc> =
            $crate::alloc::Guarded($crate::alloc::Jemalloc);

        #[cfg(not(target_env = "msvc"))]
        #[export_name = "_rjem_malloc_conf"]
        // The type tikv-jemalloc-sys declares the symbol with.
        static MALLOC_CONF: Option<&'static std::ffi::c_char> =
            // SAFETY: a pointer to the first byte of a static NUL-terminated string.
            Some(unsafe { &*$crate::alloc::MALLOC_CONF.as_ptr() });
    };
}
