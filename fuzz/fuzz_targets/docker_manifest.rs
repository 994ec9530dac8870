//! A docker-archive directory whose `manifest.json` is the input: paths, config and layers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let root = dir.path();
    if std::fs::write(root.join("manifest.json"), data).is_err()
        || std::fs::write(root.join("config.json"), br#"{"architecture":"amd64","rootfs":{"diff_ids":[]}}"#).is_err()
        || std::fs::write(root.join("layer.tar"), [0u8; 1024]).is_err()
    {
        return;
    }
    let _ = oci::read::ForeignImage::open(root, None);
});
