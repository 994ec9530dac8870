//! An OCI layout whose `index.json` is the input (and whose blobs are written from the JSON's
//! own descriptors' digests where the input names any): index, manifest and config parsing,
//! digest and size checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let root = dir.path();
    if std::fs::create_dir_all(root.join("blobs/sha256")).is_err()
        || std::fs::write(root.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).is_err()
        || std::fs::write(root.join("index.json"), data).is_err()
    {
        return;
    }
    // The same bytes as a blob too, so a descriptor naming their digest reaches the parsers.
    let digest = oci::digest::Digest::sha256_of(data);
    let _ = std::fs::write(digest.blob_path(root), data);
    let _ = oci::read::ForeignImage::open(root, None);
    let _ = oci::read::ForeignImage::open(root, Some("latest"));
});
