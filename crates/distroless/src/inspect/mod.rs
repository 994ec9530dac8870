//! The eyes: what any image holds (ours or not; an OCI layout, an oci-archive, a
//! docker-archive, or a registry image pulled first), per platform: its layers with sizes and
//! what made them, its runtime settings, its Debian packages and their share of the size, the
//! largest files, and the bytes a later layer made useless. [`diff`] compares two images;
//! [`audit`] polices one.

pub mod audit;
pub mod diff;
pub mod fs;
pub mod packages;
mod users;

use oci::read::{ForeignImage, ForeignManifest};
use serde::Serialize;
use serde_json::Value;

pub use fs::{Filesystem, Kind, LayerFacts, Node};
pub use packages::Package;

/// What `inspect` reports for one platform.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformReport {
    pub platform: String,
    pub layers: Vec<LayerFacts>,
    pub config: Settings,
    pub packages: Vec<Package>,
    /// The largest regular files: (path, bytes).
    pub largest: Vec<(String, u64)>,
    pub files: usize,
    /// Bytes of the merged file system's regular files.
    pub bytes: u64,
    pub compressed: u64,
    pub wasted: u64,
}

/// The runtime settings a user cares about.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Settings {
    pub user: String,
    pub entrypoint: Value,
    pub cmd: Value,
    pub env: Value,
    pub workdir: String,
    pub ports: Vec<String>,
    pub healthcheck: Value,
    pub labels: Value,
    pub volumes: Vec<String>,
    pub stop_signal: String,
}

/// The platform of a manifest as `os/arch[/variant]`.
pub fn platform_of(m: &ForeignManifest) -> String {
    let p = m.platform.as_ref();
    let get = |k: &str| {
        p.and_then(|p| p[k].as_str())
            .or_else(|| m.config[k].as_str())
            .map(str::to_string)
    };
    let mut out = format!(
        "{}/{}",
        get("os").unwrap_or_else(|| "linux".into()),
        get("architecture").unwrap_or_else(|| "?".into())
    );
    if let Some(v) = get("variant") {
        out = format!("{out}/{v}");
    }
    out
}

/// One platform of an image, read.
pub struct Read {
    pub platform: String,
    pub fs: Filesystem,
    pub layers: Vec<LayerFacts>,
    pub config: Value,
}

/// Reads every platform of an image.
pub fn read(image: &ForeignImage, limits: fs::Expansion) -> anyhow::Result<Vec<Read>> {
    image
        .manifests
        .iter()
        .map(|m| {
            let (fs, layers) = fs::read(image, m, limits)?;
            Ok(Read {
                platform: platform_of(m),
                fs,
                layers,
                config: m.config.clone(),
            })
        })
        .collect()
}

/// The report of one platform.
pub fn report(
    platform: &str,
    fs: &Filesystem,
    layers: &[LayerFacts],
    config: &Value,
) -> PlatformReport {
    let c = &config["config"];
    let mut largest: Vec<(String, u64)> = fs
        .nodes
        .iter()
        .filter(|(_, n)| n.kind == Kind::File)
        .map(|(p, n)| (format!("/{p}"), n.size))
        .collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    largest.truncate(10);
    PlatformReport {
        platform: platform.to_string(),
        layers: layers.to_vec(),
        config: Settings {
            user: c["User"].as_str().unwrap_or("").to_string(),
            entrypoint: c["Entrypoint"].clone(),
            cmd: c["Cmd"].clone(),
            env: c["Env"].clone(),
            workdir: c["WorkingDir"].as_str().unwrap_or("").to_string(),
            ports: c["ExposedPorts"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default(),
            healthcheck: c["Healthcheck"].clone(),
            labels: c["Labels"].clone(),
            volumes: c["Volumes"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default(),
            stop_signal: c["StopSignal"].as_str().unwrap_or("").to_string(),
        },
        packages: packages::of(fs),
        largest,
        files: fs.nodes.len(),
        bytes: fs
            .nodes
            .values()
            .filter(|n| n.kind == Kind::File)
            .map(|n| n.size)
            .sum(),
        compressed: layers.iter().map(|l| l.compressed).sum(),
        wasted: fs.wasted,
    }
}
