//! `use_jemalloc!` makes jemalloc the allocator, with the options of `alloc::MALLOC_CONF`
//! (this test binary calls it as the binaries do).
#![cfg(not(target_env = "msvc"))]

atif_drift::use_jemalloc!();

/// jemalloc's `opt.<name>` (a signed size, as the decay options are).
fn opt(name: &str) -> isize {
    let name = std::ffi::CString::new(format!("opt.{name}")).unwrap();
    let mut value: isize = 0;
    let mut len = std::mem::size_of::<isize>();
    // SAFETY: reads one ssize_t option into a buffer of that size.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr(),
            (&mut value as *mut isize).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    assert_eq!(rc, 0, "mallctl {name:?}");
    value
}

#[test]
fn jemalloc_runs_with_our_decay_options() {
    // The environment variable overrides the built-in options; this test checks those.
    if std::env::var_os("_RJEM_MALLOC_CONF").is_some() {
        return;
    }
    let conf = atif_drift::alloc::MALLOC_CONF.to_str().unwrap();
    for option in conf.split(',') {
        let (name, value) = option.split_once(':').unwrap();
        assert_eq!(opt(name), value.parse::<isize>().unwrap(), "{option}");
    }
    // jemalloc's default dirty decay is 10 s: the options were read, not defaulted.
    assert!(conf.contains("dirty_decay_ms:") && opt("dirty_decay_ms") != 10_000);
}
