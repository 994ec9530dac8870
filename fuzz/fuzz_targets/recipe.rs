//! A recipe file (TOML) and the one-line error it may give.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match distroless::model::recipe::Recipe::parse("fuzz.toml", text) {
            Ok(r) => {
                let _ = r.packages_for(13);
                let _ = r.symlinks_for(12, "amd64");
            }
            Err(e) => assert!(!e.to_string().contains('\n'), "multi-line error: {e}"),
        }
    }
});
