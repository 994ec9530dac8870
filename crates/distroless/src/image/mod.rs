//! The JSON around the layers: a catalog image's runtime config, manifest annotations and
//! the tagged top index (pure functions of typed values), and [`assemble`], which puts one
//! architecture's image together.

pub mod assemble;

use std::collections::BTreeMap;

use anyhow::Context;
use oci::image::{Platform, RuntimeConfig};
use oci::layout::LayoutWriter;
use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use sha2::{Digest, Sha256};

use crate::model::recipe::Recipe;
use crate::model::{Catalog, ImageRef, PATH};

/// The runtime config of a catalog image variant: `PATH` and `SSL_CERT_FILE`, the chain's
/// env, entrypoint and cmd, and the variant's user and working directory.
pub fn runtime_config(image: &ImageRef, chain: &[&Recipe]) -> RuntimeConfig {
    let mut path = PATH.to_string();
    let mut entrypoint = chain.iter().rev().find_map(|r| r.entrypoint.clone());
    let cmd = chain.iter().rev().find_map(|r| r.cmd.clone());
    if image.variant.debug {
        path.push_str(":/busybox");
        if entrypoint.is_none() {
            entrypoint = Some(vec!["/busybox/sh".to_string()]);
        }
    }
    let mut env = vec![
        format!("PATH={path}"),
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".to_string(),
    ];
    for r in chain {
        for (k, v) in &r.env {
            env.retain(|e| !e.starts_with(&format!("{k}=")));
            env.push(format!("{k}={v}"));
        }
    }
    let (user, working_dir) = if image.variant.nonroot {
        ("65532", "/home/nonroot")
    } else {
        ("0", "/")
    };
    RuntimeConfig {
        env,
        user: Some(user.to_string()),
        working_dir: Some(working_dir.to_string()),
        entrypoint,
        cmd,
        ..RuntimeConfig::default()
    }
}

/// The image's language runtime, where it came from (`debian:PACKAGE`, `apt:PACKAGE` for a
/// third-party repository's, `archive:NAME`) and its upstream version (epoch and Debian
/// revision cut), from the last recipe of the chain that names one, the plan's packages and
/// the archives unpacked.
pub fn runtime_of(
    chain: &[&Recipe],
    plan: &crate::plan::Plan,
    archives: &[crate::model::recipe::ArchiveRecord],
) -> Option<(crate::model::recipe::Runtime, String, String)> {
    let runtime = chain.iter().rev().find_map(|r| r.runtime.clone())?;
    let all: Vec<&debian::index::Package> = plan.tiers.iter().flat_map(|t| &t.packages).collect();
    let from_package = || {
        runtime.packages.iter().find_map(|name| {
            all.iter().find(|p| &p.name == name).map(|p| {
                let kind = if plan.repositories.contains(&p.mirror) {
                    "apt"
                } else {
                    "debian"
                };
                (format!("{kind}:{}", p.name), upstream_version(&p.version))
            })
        })
    };
    let from_archive = || {
        let name = runtime.archive.as_ref()?;
        archives
            .iter()
            .find(|a| &a.name == name)
            .map(|a| (format!("archive:{}", a.name), a.version.clone()))
    };
    let (source, version) = from_archive().or_else(from_package)?;
    let version = match runtime.name.as_str() {
        "java" => java_version(&version),
        _ => version,
    };
    Some((runtime, source, version))
}

/// `1:21.0.8+9-1~deb13u1` → `21.0.8+9`.
fn upstream_version(debian: &str) -> String {
    let no_epoch = debian.split_once(':').map_or(debian, |(_, v)| v);
    no_epoch
        .rsplit_once('-')
        .map_or(no_epoch, |(v, _)| v)
        .to_string()
}

/// A JDK's upstream version as Java names it (and the published images' `JAVA_VERSION`):
/// the build number and any packaging suffix dropped, a fourth component kept only when it
/// is not zero. `21.0.8+9` → `21.0.8`; Temurin's `17.0.21.1.0+2` → `17.0.21.1`.
fn java_version(upstream: &str) -> String {
    let numbers: Vec<&str> = upstream
        .split(['+', '~'])
        .next()
        .unwrap_or(upstream)
        .split('.')
        .collect();
    match numbers.as_slice() {
        [a, b, c, d, ..] if *d != "0" => format!("{a}.{b}.{c}.{d}"),
        [a, b, c, ..] => format!("{a}.{b}.{c}"),
        _ => numbers.join("."),
    }
}

/// What names an image in its manifest annotations.
pub struct Naming<'a> {
    pub image: &'a ImageRef,
    /// An application image's recipe (named after it, based on the catalog image).
    pub app: Option<&'a Recipe>,
    pub debian_version: &'a str,
    pub release_date: &'a str,
    pub epoch: u64,
    /// The language runtime (name, package, version), if the image carries one.
    pub runtime: Option<(String, String, String)>,
}

/// The manifest annotations of an image we build from the catalog.
pub fn annotations(
    naming: &Naming<'_>,
    catalog: &Catalog,
) -> anyhow::Result<BTreeMap<String, String>> {
    let image = naming.image;
    let recipe = catalog
        .get(&image.name)
        .context("image vanished from the catalog")?;
    let mut a = BTreeMap::new();
    let mut put = |k: &str, v: String| a.insert(format!("org.opencontainers.image.{k}"), v);
    put("version", naming.debian_version.to_string());
    put("created", oci::image::rfc3339(naming.epoch));
    match naming.app {
        Some(app) => {
            put("title", app.name.clone());
            put("base.name", image.canonical());
            if !app.description.is_empty() {
                put("description", app.description.clone());
            }
        }
        None => {
            put("title", image.canonical());
            if !recipe.description.is_empty() {
                put("description", recipe.description.clone());
            }
            if let Some(parent) = &recipe.from {
                let n = image.release.number;
                put(
                    "base.name",
                    format!("{parent}-debian{n}:{}", image.variant.tag()),
                );
            }
        }
    }
    a.insert(
        "org.debian.release.date".into(),
        naming.release_date.to_string(),
    );
    if let Some((name, package, version)) = &naming.runtime {
        a.insert(format!("dev.distroless.{name}.version"), version.clone());
        a.insert(format!("dev.distroless.{name}.source"), package.clone());
    }
    if let Some(app) = naming.app {
        a.extend(app.annotations.clone());
    }
    Ok(a)
}

/// The top `index.json`: one entry per tag, all pointing at the one manifest, or at an image
/// index over the per-architecture manifests (written into the layout).
pub fn tagged_index(
    layout: &LayoutWriter,
    mut manifests: Vec<(Descriptor, Option<Platform>)>,
    tags: &[String],
    keep: Option<&std::path::Path>,
) -> anyhow::Result<ImageIndex> {
    let (desc, platform) = if manifests.len() == 1 {
        manifests.remove(0)
    } else {
        let inner = oci::image::index(manifests, &BTreeMap::new())?;
        (layout.json_blob(MediaType::ImageIndex, &inner)?, None)
    };
    let mut entries: Vec<(Descriptor, Option<Platform>)> = tags
        .iter()
        .map(|tag| {
            let mut d = desc.clone();
            let ref_name = [(oci::retag::REF_NAME.to_string(), tag.clone())];
            d.set_annotations(Some(ref_name.into_iter().collect()));
            (d, platform.clone())
        })
        .collect();
    if let Some(old) = keep {
        // Carried entries keep their own platform (and every other field) as they were.
        entries.extend(layout.carry_over(old, tags)?.into_iter().map(|d| (d, None)));
    }
    Ok(oci::image::index(entries, &BTreeMap::new())?)
}

/// `sha256:…` of an index as written.
pub fn index_digest(index: &ImageIndex) -> anyhow::Result<String> {
    Ok(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(oci::image::canonical_json(index)?))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(text: &str) -> (Catalog, ImageRef) {
        let c = Catalog::embedded().unwrap();
        let r = ImageRef::parse(text, &c).unwrap();
        (c, r)
    }

    #[test]
    fn variants_set_user_path_and_entrypoint() {
        let (c, r) = cc("cc-debian12:debug-nonroot");
        let chain = c.chain(&r.name).unwrap();
        let rc = runtime_config(&r, &chain);
        assert_eq!(rc.user.as_deref(), Some("65532"));
        assert_eq!(rc.working_dir.as_deref(), Some("/home/nonroot"));
        assert_eq!(rc.entrypoint, Some(vec!["/busybox/sh".to_string()]));
        assert!(rc.env[0].ends_with(":/bin:/busybox"), "{:?}", rc.env);
        let (c, r) = cc("python3");
        let rc = runtime_config(&r, &c.chain(&r.name).unwrap());
        assert_eq!(rc.user.as_deref(), Some("0"));
        assert!(rc.entrypoint.is_some_and(|e| e[0] == "/usr/bin/python3"));
    }

    #[test]
    fn annotations_name_the_parent_or_the_app() {
        let (c, r) = cc("cc-debian13:nonroot");
        let n = Naming {
            image: &r,
            app: None,
            debian_version: "13.1",
            release_date: "Sat, 06 Sep 2025 10:00:00 UTC",
            epoch: 0,
            runtime: None,
        };
        let a = annotations(&n, &c).unwrap();
        assert_eq!(a["org.opencontainers.image.title"], "cc-debian13:nonroot");
        assert_eq!(
            a["org.opencontainers.image.base.name"],
            "base-debian13:nonroot"
        );
        assert_eq!(
            a["org.opencontainers.image.created"],
            "1970-01-01T00:00:00Z"
        );
        let app = Recipe::parse("r", "name = \"shop\"\n[annotations]\nx = \"y\"\n").unwrap();
        let a = annotations(
            &Naming {
                app: Some(&app),
                ..n
            },
            &c,
        )
        .unwrap();
        assert_eq!(a["org.opencontainers.image.title"], "shop");
        assert_eq!(
            a["org.opencontainers.image.base.name"],
            "cc-debian13:nonroot"
        );
        assert_eq!(a["x"], "y");
        let java = Naming {
            runtime: Some((
                "java".into(),
                "debian:openjdk-21-jre-headless".into(),
                "21.0.8+9".into(),
            )),
            ..n
        };
        let a = annotations(&java, &c).unwrap();
        assert_eq!(a["dev.distroless.java.version"], "21.0.8+9");
        assert_eq!(
            a["dev.distroless.java.source"],
            "debian:openjdk-21-jre-headless"
        );
    }

    #[test]
    fn upstream_versions_lose_epoch_and_revision() {
        assert_eq!(upstream_version("1:21.0.8+9-1~deb13u1"), "21.0.8+9");
        assert_eq!(upstream_version("3.13.5-2"), "3.13.5");
        assert_eq!(upstream_version("20.19.2+dfsg-1"), "20.19.2+dfsg");
        assert_eq!(upstream_version("1.0"), "1.0");
        assert_eq!(java_version("21.0.8+9"), "21.0.8");
        assert_eq!(java_version("17.0.21.1+2"), "17.0.21.1");
        assert_eq!(java_version("17.0.21.1.0+2"), "17.0.21.1");
        assert_eq!(java_version("21.0.12.0.0+8"), "21.0.12");
        assert_eq!(java_version("25~32ea"), "25");
    }
}
