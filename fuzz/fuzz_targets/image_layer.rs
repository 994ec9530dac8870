//! An image layer of an image we did not build: the tar indexer (paths, symlinks, the base's
//! passwd/group/CA bundle), behind no compression, gzip and zstd.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use distroless::foreign::{BaseFiles, index_layer};
    let _ = index_layer(data, &mut BaseFiles::default());
    let _ = index_layer(flate2::read::GzDecoder::new(data), &mut BaseFiles::default());
    if let Ok(z) = zstd::stream::read::Decoder::new(data) {
        let _ = index_layer(z, &mut BaseFiles::default());
    }
});
