//! A `Packages` index, and the dependency relations of every stanza it yields.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = debian::index::for_each_package("fuzz", data, "s", "file:///m/", |p| {
        let _ = p.dependencies();
    });
});
