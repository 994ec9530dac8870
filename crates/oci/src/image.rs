//! Image config, manifest and index, built with `oci-spec` types and written canonically.
//!
//! `oci-spec` keeps labels and annotations in `HashMap`s, so a plain `serde_json::to_vec`
//! may order keys differently between runs. Everything digested goes through
//! [`canonical_json`], which re-serialises through `serde_json::Value` (a `BTreeMap` as long
//! as serde_json's `preserve_order` feature stays off).

use std::collections::BTreeMap;
use std::str::FromStr;

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, Digest, HistoryBuilder, ImageConfiguration,
    ImageConfigurationBuilder, ImageIndex, ImageIndexBuilder, ImageManifest, ImageManifestBuilder,
    MediaType, Os, PlatformBuilder, RootFsBuilder,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::layer::LayerBlob;

/// A platform in OCI terms (`arm64` + `v8`, `arm` + `v7`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub variant: Option<String>,
}

/// The runtime settings of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
}

/// One layer with the history line that explains it.
#[derive(Debug, Clone)]
pub struct HistoryLayer {
    pub blob: LayerBlob,
    pub created_by: String,
}

/// oci-spec's maps are `HashMap`s; ours are ordered. Order is restored by [`canonical_json`].
fn to_map(m: &BTreeMap<String, String>) -> std::collections::HashMap<String, String> {
    m.clone().into_iter().collect()
}

/// Serialises a value with sorted keys and no whitespace.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let v = serde_json::to_value(value).map_err(|e| Error::Spec(e.to_string()))?;
    serde_json::to_vec(&v).map_err(|e| Error::Spec(e.to_string()))
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time, without pulling in a date crate.
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for all non-negative days.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Builds the image configuration.
pub fn config(
    platform: &Platform,
    runtime: &RuntimeConfig,
    layers: &[HistoryLayer],
    created: u64,
) -> Result<ImageConfiguration> {
    let when = rfc3339(created);
    let mut cfg = ConfigBuilder::default().env(runtime.env.clone());
    if let Some(u) = &runtime.user {
        cfg = cfg.user(u.clone());
    }
    if let Some(w) = &runtime.working_dir {
        cfg = cfg.working_dir(w.clone());
    }
    if let Some(e) = &runtime.entrypoint {
        cfg = cfg.entrypoint(e.clone());
    }
    if let Some(c) = &runtime.cmd {
        cfg = cfg.cmd(c.clone());
    }
    if !runtime.labels.is_empty() {
        cfg = cfg.labels(to_map(&runtime.labels));
    }
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(
            layers
                .iter()
                .map(|l| l.blob.diff_id.clone())
                .collect::<Vec<_>>(),
        )
        .build()?;
    let history = layers
        .iter()
        .map(|l| {
            HistoryBuilder::default()
                .created(when.clone())
                .created_by(l.created_by.clone())
                .build()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut b = ImageConfigurationBuilder::default()
        .created(when)
        .architecture(Arch::from(platform.architecture.as_str()))
        .os(Os::Linux)
        .config(cfg.build()?)
        .rootfs(rootfs)
        .history(history);
    if let Some(v) = &platform.variant {
        b = b.variant(v.clone());
    }
    Ok(b.build()?)
}

/// A descriptor for a blob.
pub fn descriptor(media_type: MediaType, digest: &str, size: u64) -> Result<Descriptor> {
    let digest = Digest::from_str(digest).map_err(|e| Error::Spec(e.to_string()))?;
    Ok(DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest)
        .size(size)
        .build()?)
}

/// Builds a manifest from the config descriptor and the layers.
pub fn manifest(
    config: Descriptor,
    layers: &[HistoryLayer],
    annotations: &BTreeMap<String, String>,
) -> Result<ImageManifest> {
    let layer_descs = layers
        .iter()
        .map(|l| {
            descriptor(
                MediaType::from(l.blob.media_type.as_str()),
                &l.blob.digest,
                l.blob.size,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let mut b = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layer_descs);
    if !annotations.is_empty() {
        b = b.annotations(to_map(annotations));
    }
    Ok(b.build()?)
}

/// Builds an image index over per-platform manifests.
pub fn index(
    manifests: Vec<(Descriptor, Option<Platform>)>,
    annotations: &BTreeMap<String, String>,
) -> Result<ImageIndex> {
    let mut descs = Vec::new();
    for (mut d, platform) in manifests {
        if let Some(p) = platform {
            let mut pb = PlatformBuilder::default()
                .architecture(Arch::from(p.architecture.as_str()))
                .os(Os::Linux);
            if let Some(v) = p.variant {
                pb = pb.variant(v);
            }
            d.set_platform(Some(pb.build()?));
        }
        descs.push(d);
    }
    let mut b = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(descs);
    if !annotations.is_empty() {
        b = b.annotations(to_map(annotations));
    }
    Ok(b.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn canonical_json_sorts_annotation_keys() {
        let mut a = BTreeMap::new();
        for k in ["z", "a", "m", "b", "y"] {
            a.insert(format!("org.example.{k}"), k.to_string());
        }
        let d = descriptor(
            MediaType::ImageConfig,
            &format!("sha256:{}", "0".repeat(64)),
            1,
        )
        .unwrap();
        let m = manifest(d, &[], &a).unwrap();
        let text = String::from_utf8(canonical_json(&m).unwrap()).unwrap();
        let positions: Vec<usize> = ["a", "b", "m", "y", "z"]
            .iter()
            .map(|k| text.find(&format!("org.example.{k}")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }
}
