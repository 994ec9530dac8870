//! The one reader of tars we did not write (`oci::untar`): it must never panic or read past
//! an entry. Its differential judge against Go's `archive/tar` is
//! `crates/oci/tests/untar_differential.rs`, which replays this target's corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = oci::untar::walk(data, |h: &oci::untar::Header, body: &mut dyn std::io::Read| {
        let mut n = 0u64;
        let mut buf = [0u8; 4096];
        loop {
            let got = body.read(&mut buf).map_err(|e| oci::untar::TarError {
                entry: 0,
                name: None,
                reason: e.to_string(),
            })?;
            if got == 0 {
                break;
            }
            n += got as u64;
        }
        assert_eq!(n, h.size, "a body must be exactly its size");
        Ok::<(), oci::untar::TarError>(())
    });
});
