//! An application recipe prepared for a build: its copies, accounts, certificates and
//! runtime settings checked before anything is downloaded, the layers they become, and the
//! `auto` analysis that adds only the library files the copied programs need.

use anyhow::Context;
use oci::image::RuntimeConfig;
use oci::layer::Meta;

use crate::app::{self, AppSpec};
use crate::build::{BuildOptions, PATH};
use crate::layers::{GenEntry, Unit};
use crate::plan::{Plan, Source};
use crate::recipe::Recipe;
use crate::rootfs::{self, view::ImageView};

/// What an application recipe adds, prepared (and checked) before anything is fetched.
pub struct AppPrepared {
    pub spec: AppSpec,
    pub accounts: app::Accounts,
    pub copies: Vec<(String, Vec<GenEntry>)>,
    pub certs: Vec<(String, Vec<u8>)>,
    pub user: Option<String>,
}

/// Checks an application recipe against the host and the base's accounts.
pub fn prepare_app(spec: &AppSpec) -> anyhow::Result<AppPrepared> {
    prepare_app_with(spec, spec.accounts()?)
}

/// Like [`prepare_app`], with the image's accounts (a foreign base's, already extended).
pub fn prepare_app_with(spec: &AppSpec, accounts: app::Accounts) -> anyhow::Result<AppPrepared> {
    app::check_keys(spec)?;
    let mut copies = Vec::new();
    for (i, c) in spec.recipe.copy.iter().enumerate() {
        let entries = app::copy_entries(spec, i, c, &accounts)?;
        copies.push((format!("distroless copy: {} → {}", c.src, c.dest), entries));
    }
    let certs = app::extra_certificates(spec)?;
    let user = app::user_setting(spec, &accounts)?;
    if let Some(h) = &spec.recipe.healthcheck {
        for (key, value) in [
            ("interval", &h.interval),
            ("timeout", &h.timeout),
            ("start_period", &h.start_period),
        ] {
            if let Some(v) = value
                && app::duration_ns(v).is_none()
            {
                return Err(spec.error(
                    None,
                    key,
                    format!("{v:?} is not a duration like \"30s\" or \"1m30s\""),
                ));
            }
        }
        if h.test.is_empty() {
            return Err(spec.error(None, "test", "the health check needs a test command"));
        }
    }
    for p in &spec.recipe.exposed_ports {
        if normalise_port(p).is_none() {
            return Err(spec.error(
                None,
                "exposed_ports",
                format!("{p:?} is not a port like \"8080\" or \"53/udp\""),
            ));
        }
    }
    Ok(AppPrepared {
        spec: spec.clone(),
        accounts,
        copies,
        certs,
        user,
    })
}

fn normalise_port(p: &str) -> Option<String> {
    let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    (n.parse::<u16>().is_ok_and(|n| n > 0) && matches!(proto, "tcp" | "udp" | "sctp"))
        .then(|| format!("{n}/{proto}"))
}

/// The layers an application recipe adds after its packages.
pub fn app_units(
    app: &AppPrepared,
    chain: &[&Recipe],
    plan: &Plan,
    debs: &crate::build::Debs<'_>,
    epoch: u64,
) -> anyhow::Result<Vec<Unit>> {
    let r = &app.spec.recipe;
    let mut entries = Vec::new();
    if !r.users.is_empty() || !r.groups.is_empty() {
        entries.push(GenEntry::File(
            "etc/passwd".into(),
            app.accounts.passwd.clone().into_bytes(),
            Meta::root(0o644),
        ));
        entries.push(GenEntry::File(
            "etc/group".into(),
            app.accounts.group.clone().into_bytes(),
            Meta::root(0o644),
        ));
        entries.extend(app::home_dirs(&app.spec));
    }
    if !app.certs.is_empty() {
        let mut certs = rootfs::cacerts::certs_from_deb(&debs.path(&plan.ca_certificates)?)?;
        certs.extend(app.certs.iter().cloned());
        let mut bundle = Vec::new();
        for (_, pem) in &certs {
            bundle.extend_from_slice(pem);
            if !pem.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        }
        entries.push(GenEntry::File(
            rootfs::cacerts::BUNDLE.into(),
            bundle,
            Meta::root(0o644),
        ));
        if chain.iter().any(|c| c.java_trust_store) {
            let store = rootfs::javacerts::trust_store(&certs, epoch)?;
            entries.push(GenEntry::File(
                rootfs::javacerts::PATH.into(),
                store,
                Meta::root(0o644),
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

/// Applies an application recipe's runtime settings; checks the entrypoint exists.
pub fn apply_app(
    app: &AppPrepared,
    runtime: &mut RuntimeConfig,
    view: &ImageView,
) -> anyhow::Result<()> {
    let r = &app.spec.recipe;
    if let Some(u) = &app.user {
        runtime.user = Some(u.clone());
    }
    if let Some(w) = &r.workdir {
        runtime.working_dir = Some(w.clone());
    }
    runtime.labels.extend(r.labels.clone());
    runtime.exposed_ports = r
        .exposed_ports
        .iter()
        .filter_map(|p| normalise_port(p))
        .collect();
    runtime.volumes.clone_from(&r.volumes);
    runtime.stop_signal.clone_from(&r.stop_signal);
    if let Some(program) = r.entrypoint.as_ref().and_then(|e| e.first()) {
        let found = if program.starts_with('/') {
            matches!(view.resolve(program), rootfs::view::Resolved::File(_))
        } else {
            let path = runtime
                .env
                .iter()
                .find_map(|e| e.strip_prefix("PATH="))
                .unwrap_or(PATH);
            path.split(':').any(|d| {
                matches!(
                    view.resolve(&format!("{d}/{program}")),
                    rootfs::view::Resolved::File(_)
                )
            })
        };
        if !found {
            return Err(app.spec.error(
                None,
                "entrypoint",
                format!("{program} is not in the image"),
            ));
        }
    }
    Ok(())
}

/// The Docker/Podman `Healthcheck` object of a recipe.
pub fn healthcheck_of(app: &AppPrepared) -> Option<serde_json::Value> {
    let h = app.spec.recipe.healthcheck.as_ref()?;
    let mut v = serde_json::json!({ "Test": h.test });
    for (key, value) in [
        ("Interval", &h.interval),
        ("Timeout", &h.timeout),
        ("StartPeriod", &h.start_period),
    ] {
        if let Some(ns) = value.as_deref().and_then(app::duration_ns) {
            v[key] = ns.into();
        }
    }
    if let Some(n) = h.retries {
        v["Retries"] = n.into();
    }
    Some(v)
}

/// The ELF programs an application copies: (path in the image, path on the host).
pub fn copied_programs(app: &AppPrepared) -> Vec<crate::auto::Program> {
    app.copies
        .iter()
        .flat_map(|(_, entries)| entries.iter())
        .filter_map(|e| match e {
            GenEntry::Host(dest, host, _) => Some(crate::auto::Program {
                image_path: format!("/{dest}"),
                host_path: host.clone(),
            }),
            _ => None,
        })
        .filter(|p| {
            crate::auto::program_info(&p.host_path)
                .ok()
                .flatten()
                .is_some()
        })
        .collect()
}

/// Adds the files the copied programs need to the application tier of a plan.
pub fn auto_plan(
    source: &Source<'_>,
    opts: &BuildOptions,
    mut p: Plan,
    app: Option<&AppPrepared>,
    arch: &str,
) -> anyhow::Result<(Plan, Vec<String>)> {
    let app = app.context("from = \"auto\" needs an application recipe")?;
    let programs = copied_programs(app);
    let universe = crate::plan::load_universe(source, opts.image.release, arch)?;
    let needs = crate::auto::analyse(
        source,
        &universe,
        &programs,
        arch,
        opts.image.release.merged_usr(),
        &app.spec.recipe.packages,
    )?;
    drop(universe);
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
