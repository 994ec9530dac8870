//! A `.deb`: the ar container, control.tar and data.tar with gzip/xz/zstd, the control file
//! and the path policy of every data entry.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let Ok(mut f) = tempfile::NamedTempFile::new() else { return };
    if std::io::Write::write_all(&mut f, data).is_err() {
        return;
    }
    if let Ok(c) = debian::deb::read_control(f.path(), "fuzz") {
        let _ = debian::deb::control_field(&c.control, "Package");
    }
    let _ = debian::deb::read_data(f.path(), "fuzz", |_, r| {
        let mut sink = [0u8; 4096];
        while r.read(&mut sink)? > 0 {}
        Ok(())
    });
});
