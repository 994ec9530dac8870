//! A clear-signed `InRelease` (OpenPGP wrapper, signature packets, then the Release text)
//! checked against Debian's embedded keys: must never panic or hang, only refuse.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use std::sync::OnceLock;
    static KEYS: OnceLock<debian::release::Keyring> = OnceLock::new();
    let keys = KEYS.get_or_init(|| debian::release::Keyring::embedded().expect("embedded keys"));
    let policy = debian::release::ReleasePolicy {
        allow_expired: false,
        now: chrono::Utc::now(),
    };
    let _ = debian::release::verify_inrelease("fuzz", data, keys, policy);
});
