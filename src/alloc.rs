//! The binaries' allocator. Both binaries (`atif-drift`, `cargo xtask`, so that `cargo xtask
//! bench` measures what users run) call [`use_jemalloc!`](crate::use_jemalloc) once, at their
//! root.
//!
//! jemalloc, with freed memory returned to the OS after 1 s ([`MALLOC_CONF`]). Measured on a
//! drift of 100,000 requests (2 cores), against mimalloc keeping freed memory 10 s: peak RSS
//! 3.5 GB instead of 4.7–4.8 GB in the same wall time; at 10,000 requests 430 MB instead of
//! 510 MB, the same time. Each stage of a drift frees what the next allocates, mostly from
//! other threads: the shorter decay hands that memory back between the long stages of a large
//! run, where jemalloc's default (10 s) and mimalloc kept most of it.

/// jemalloc's options, read when it starts (before `main`): freed ("dirty") pages go back to
/// the OS after 1 s, without the intermediate lazily-freed ("muzzy") state. The environment
/// variable `_RJEM_MALLOC_CONF` still overrides them.
pub const MALLOC_CONF: &std::ffi::CStr = c"dirty_decay_ms:1000,muzzy_decay_ms:0";

#[cfg(not(target_env = "msvc"))]
#[doc(hidden)]
pub use tikv_jemallocator::Jemalloc;

/// Makes jemalloc, with [`MALLOC_CONF`], the global allocator of the binary it is called in.
/// jemalloc reads the options from the symbol `_rjem_malloc_conf` (tikv-jemalloc-sys prefixes
/// jemalloc's symbols with `_rjem_`), which only a binary can define. Does nothing with MSVC,
/// where jemalloc does not build.
#[macro_export]
macro_rules! use_jemalloc {
    () => {
        #[cfg(not(target_env = "msvc"))]
        #[global_allocator]
        static ALLOC: $crate::alloc::Jemalloc = $crate::alloc::Jemalloc;

        #[cfg(not(target_env = "msvc"))]
        #[export_name = "_rjem_malloc_conf"]
        // The type tikv-jemalloc-sys declares the symbol with.
        static MALLOC_CONF: Option<&'static std::ffi::c_char> =
            // SAFETY: a pointer to the first byte of a static NUL-terminated string.
            Some(unsafe { &*$crate::alloc::MALLOC_CONF.as_ptr() });
    };
}
