//! The allocator's one setting. Both binaries (`atif-drift`, `cargo xtask`) use mimalloc as
//! their global allocator and call [`keep_freed_memory`] first.

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (libmimalloc-sys names only the
/// options it calls stable; this one has kept its place since it was `reset_delay`).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory is kept for reuse before it goes back to the OS, in ms.
const KEEP_MS: std::ffi::c_long = 10_000;

/// Keep freed memory for reuse for 10 s before returning it to the OS (mimalloc's default
/// is 1 s). Each stage of a drift frees what the next one allocates; returned after 1 s, it
/// came back as fresh pages the kernel zeroes at first touch: at 10,000 requests that was
/// half the page faults and 0.3 s of a 4 s run, with the same peak. A long run (100,000
/// requests) still returns memory between its longer stages.
pub fn keep_freed_memory() {
    // SAFETY: sets an integer option of the allocator; no pointers are passed, and mimalloc
    // allows options to change at any time (it reads this one at each purge).
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, KEEP_MS) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_is_the_purge_delay() {
        // SAFETY: reads an integer option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // mimalloc v3's default purge delay: no other option defaults to it.
            assert_eq!(get(), 1000);
        }
        keep_freed_memory();
        assert_eq!(get(), KEEP_MS);
    }
}
