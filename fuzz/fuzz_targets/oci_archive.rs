//! An oci-archive or docker-archive file: the tar is unpacked with its path policy, then read
//! as a layout or a docker-archive, and every layer streamed through its verifier.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("image.tar");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(image) = oci::read::ForeignImage::open(&path, None) {
        for m in &image.manifests {
            for l in &m.layers {
                if let Ok(mut v) = image.open_blob(l) {
                    let mut sink = Vec::new();
                    let _ = v.read_to_end(&mut sink);
                    let _ = v.finish("layer");
                }
            }
        }
    }
});
