//! The Release text behind the signature (fields, the SHA256 list, dates).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(r) = debian::release::parse_release("fuzz", text)
    {
        let _ = debian::release::parse_date(&r.date);
    }
});
