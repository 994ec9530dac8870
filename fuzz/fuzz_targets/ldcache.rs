//! The `ld.so.cache` reader used to compare our cache with ldconfig's.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = distroless::rootfs::ldcache::parse(data);
    let _ = distroless::rootfs::busybox::applets(data);
});
