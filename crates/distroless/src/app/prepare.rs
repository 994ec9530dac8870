//! An application recipe prepared for a build: its copies, accounts, certificates and
//! runtime settings checked before anything is downloaded, the layers they become, and the
//! `auto` analysis that adds only the library files the copied programs need.

use anyhow::Context;
use oci::layer::Meta;

use super::{Accounts, AppSpec, auto, check_keys, copy, settings};
use crate::layers::{GenEntry, Unit};
use crate::model::recipe::CopySpec;
use crate::model::{Arch, DebianRelease};
use crate::plan::{Plan, Source};
use crate::rootfs;
use crate::sbom::CopiedFile;

/// What an application recipe adds, prepared (and checked) before anything is fetched.
pub struct AppPrepared {
    pub spec: AppSpec,
    pub accounts: Accounts,
    pub copies: Vec<(String, Vec<GenEntry>)>,
    pub certs: Vec<(String, Vec<u8>)>,
    pub user: Option<String>,
    /// The recipe's local `.deb` files, as index records.
    pub local_debs: Vec<debian::index::Package>,
}

/// Checks an application recipe against the host and a catalog base's accounts, for one
/// architecture (`{arch}` in a copy's `src` names that architecture's build output).
pub fn prepare_app(spec: &AppSpec, arch: Arch) -> anyhow::Result<AppPrepared> {
    prepare_app_with(spec, spec.accounts()?, arch)
}

/// Like [`prepare_app`], with the image's accounts (a foreign base's, already extended).
pub fn prepare_app_with(
    spec: &AppSpec,
    accounts: Accounts,
    arch: Arch,
) -> anyhow::Result<AppPrepared> {
    check_keys(spec)?;
    let mut copies = Vec::new();
    for (i, c) in spec.recipe.copy.iter().enumerate() {
        let src = arch.expand(&c.src);
        if let Some(at) = src.find('{').filter(|_| src.contains('}')) {
            let end = src[at..].find('}').map_or(src.len(), |e| at + e + 1);
            return Err(spec.error(
                Some(("copy", i)),
                "src",
                format!(
                    "unknown placeholder {} (use {{arch}} or {{oci_arch}})",
                    &src[at..end]
                ),
            ));
        }
        let c = CopySpec { src, ..c.clone() };
        let entries = copy::copy_entries(spec, i, &c, &accounts)?;
        copies.push((format!("distroless copy: {} → {}", c.src, c.dest), entries));
    }
    let certs = copy::extra_certificates(spec)?;
    let user = settings::user_setting(spec, &accounts)?;
    settings::check(spec)?;
    let local_debs = super::local::packages(spec, arch)?;
    Ok(AppPrepared {
        spec: spec.clone(),
        accounts,
        copies,
        certs,
        user,
        local_debs,
    })
}

/// The layers an application recipe adds after its packages: one for accounts and extra CA
/// certificates (the bundle is `base_certs` plus the recipe's; with `java_store`, the Java trust
/// store too), then one per `[[copy]]`. `base_certs` is only called when certificates are added.
pub fn app_units(
    app: &AppPrepared,
    base_certs: &dyn Fn() -> anyhow::Result<Vec<(String, Vec<u8>)>>,
    java_store: bool,
    epoch: u64,
) -> anyhow::Result<Vec<Unit>> {
    let r = &app.spec.recipe;
    let file = |path: &str, bytes: Vec<u8>| GenEntry::File(path.into(), bytes, Meta::root(0o644));
    let mut entries = Vec::new();
    if !r.users.is_empty() || !r.groups.is_empty() {
        entries.push(file("etc/passwd", app.accounts.passwd.clone().into_bytes()));
        entries.push(file("etc/group", app.accounts.group.clone().into_bytes()));
        entries.extend(super::accounts::home_dirs(&app.spec));
    }
    if !app.certs.is_empty() {
        let mut certs = base_certs()?;
        certs.extend(app.certs.iter().cloned());
        entries.push(file(
            rootfs::cacerts::BUNDLE,
            rootfs::cacerts::concatenate(&certs),
        ));
        if java_store {
            entries.push(file(
                rootfs::javacerts::PATH,
                rootfs::javacerts::trust_store(&certs, epoch)?,
            ));
        }
    }
    let mut out = Vec::new();
    if !entries.is_empty() {
        out.push(Unit {
            label: "distroless app: accounts and CA certificates".into(),
            entries,
            uncached: true,
            ..Unit::default()
        });
    }
    for (label, entries) in &app.copies {
        out.push(Unit {
            label: label.clone(),
            entries: entries.clone(),
            uncached: true,
            ..Unit::default()
        });
    }
    Ok(out)
}

/// The files an application copies (path in the image, path on the host); the analysis
/// skips those that are not ELF programs.
pub fn copied_programs(app: &AppPrepared) -> Vec<auto::Program> {
    app.copies
        .iter()
        .flat_map(|(_, entries)| entries.iter())
        .filter_map(|e| match e {
            GenEntry::Host(dest, host, _) => Some(auto::Program {
                image_path: format!("/{dest}"),
                host_path: host.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// Every regular file the application copies, with its place in the image and digests (for
/// the summary and the SBOMs), read from the host once, streaming.
pub fn copied_files(
    app: &AppPrepared,
    view: &rootfs::view::ImageView,
) -> anyhow::Result<Vec<CopiedFile>> {
    use sha1::Digest as _;
    let mut out = Vec::new();
    for (_, entries) in &app.copies {
        for e in entries {
            let GenEntry::Host(dest, host, _) = e else {
                continue;
            };
            if !fs_err::symlink_metadata(host)?.is_file() {
                continue;
            }
            let mut f = fs_err::File::open(host)?;
            let (mut s256, mut s1) = (sha2::Sha256::new(), sha1::Sha1::new());
            let mut buf = vec![0u8; 1 << 16];
            let mut size = 0u64;
            loop {
                let n = std::io::Read::read(&mut f, &mut buf)?;
                if n == 0 {
                    break;
                }
                s256.update(&buf[..n]);
                s1.update(&buf[..n]);
                size += n as u64;
            }
            let landed = crate::layers::landed(view, dest);
            out.push(CopiedFile {
                // Where it landed (`/usr/bin/x` for `/bin/x` on a merged-/usr image).
                asked: (landed != *dest).then(|| format!("/{dest}")),
                path: format!("/{landed}"),
                size,
                sha256: hex::encode(s256.finalize()),
                sha1: hex::encode(s1.finalize()),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}

/// Adds the files the copied programs need to the application tier of a plan; returns the
/// plan and the `--explain` lines.
pub fn auto_plan(
    source: &Source<'_>,
    release: DebianRelease,
    mut p: Plan,
    app: &AppPrepared,
    arch: Arch,
) -> anyhow::Result<(Plan, Vec<String>)> {
    let programs = copied_programs(app);
    let needs = auto::analyse_cached(source, release, arch, &programs, &app.spec.recipe.packages)?;
    let installed: std::collections::BTreeSet<String> = p
        .tiers
        .iter()
        .flat_map(|t| t.packages.iter().map(|x| x.name.clone()))
        .collect();
    let tier = p.tiers.last_mut().context("plan without tiers")?;
    for (name, (pkg, files)) in needs.files {
        if !installed.contains(&name) {
            tier.partial.push((pkg, files.into_iter().collect()));
        }
    }
    let mut lines = needs.explain;
    for s in needs.static_programs {
        lines.push(format!("{s}: statically linked, needs nothing"));
    }
    Ok((p, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_accounts_then_one_per_copy() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("app"), b"x").unwrap();
        fs_err::write(dir.path().join("cfg"), b"y").unwrap();
        let text = "[[users]]\nname = \"app\"\nuid = 1000\n\
                    [[copy]]\nsrc = \"app\"\ndest = \"/app\"\nowner = \"app\"\n\
                    [[copy]]\nsrc = \"cfg\"\ndest = \"/etc/\"\n";
        let prepared = prepare_app(&AppSpec::for_test(text, dir.path()), Arch::Amd64).unwrap();
        let none = || -> anyhow::Result<Vec<(String, Vec<u8>)>> { unreachable!() };
        let units = app_units(&prepared, &none, false, 0).unwrap();
        let labels: Vec<&str> = units.iter().map(|u| u.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "distroless app: accounts and CA certificates",
                "distroless copy: app → /app",
                "distroless copy: cfg → /etc/"
            ]
        );
        assert!(units.iter().all(|u| u.uncached));
        assert!(matches!(
            &units[1].entries[0],
            GenEntry::Host(p, _, m) if p == "app" && m.uid == 1000
        ));
        assert!(matches!(&units[2].entries[0], GenEntry::Host(p, _, _) if p == "etc/cfg"));
        assert_eq!(copied_programs(&prepared).len(), 2);
    }

    #[test]
    fn a_missing_source_is_refused_before_any_download() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[copy]]\nsrc = \"nope\"\ndest = \"/x\"\n";
        let err = prepare_app(&AppSpec::for_test(text, dir.path()), Arch::Amd64)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("r.toml:2: copy[0].src:"), "{err}");
    }
}
