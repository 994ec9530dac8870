//! An application recipe prepared for a build: its copies, accounts, certificates and
//! runtime settings checked before anything is downloaded, the layers they become, and the
//! `auto` analysis that adds only the library files the copied programs need.

use anyhow::Context;
use oci::layer::Meta;
use serde_json::{Value, json};

use crate::app::{self, AppSpec};
use crate::build::{BuildOptions, PATH};
use crate::layers::{GenEntry, Unit};
use crate::plan::{Plan, Source};
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

pub fn normalise_port(p: &str) -> Option<String> {
    let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    (n.parse::<u16>().is_ok_and(|n| n > 0) && matches!(proto, "tcp" | "udp" | "sctp"))
        .then(|| format!("{n}/{proto}"))
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
        entries.extend(app::home_dirs(&app.spec));
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

/// Applies a recipe's runtime settings to an image config (JSON, so a foreign base's other
/// fields survive), and checks that the entrypoint exists in the image.
pub fn apply_settings(
    app: &AppPrepared,
    config: &mut Value,
    view: &ImageView,
) -> anyhow::Result<()> {
    let r = &app.spec.recipe;
    let c = &mut config["config"];
    if let Some(e) = &r.entrypoint {
        c["Entrypoint"] = json!(e);
    }
    if let Some(cmd) = &r.cmd {
        c["Cmd"] = json!(cmd);
    }
    let mut env: Vec<String> = c["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for (k, v) in &r.env {
        env.retain(|e| !e.starts_with(&format!("{k}=")));
        env.push(format!("{k}={v}"));
    }
    if let Some(u) = &app.user {
        c["User"] = json!(u);
    }
    if let Some(w) = &r.workdir {
        c["WorkingDir"] = json!(w);
    }
    for (k, v) in &r.labels {
        c["Labels"][k] = json!(v);
    }
    for p in r.exposed_ports.iter().filter_map(|p| normalise_port(p)) {
        c["ExposedPorts"][p] = json!({});
    }
    for v in &r.volumes {
        c["Volumes"][v] = json!({});
    }
    if let Some(s) = &r.stop_signal {
        c["StopSignal"] = json!(s);
    }
    if let Some(h) = healthcheck(app) {
        c["Healthcheck"] = h;
    }
    if let Some(program) = r.entrypoint.as_ref().and_then(|e| e.first()) {
        let is_file = |p: &str| matches!(view.resolve(p), rootfs::view::Resolved::File(_));
        let found = if program.starts_with('/') {
            is_file(program)
        } else {
            let path = env
                .iter()
                .find_map(|e| e.strip_prefix("PATH="))
                .unwrap_or(PATH);
            path.split(':').any(|d| is_file(&format!("{d}/{program}")))
        };
        if !found {
            return Err(app.spec.error(
                None,
                "entrypoint",
                format!("{program} is not in the image"),
            ));
        }
    }
    c["Env"] = json!(env);
    Ok(())
}

/// The Docker/Podman `Healthcheck` object of a recipe.
fn healthcheck(app: &AppPrepared) -> Option<Value> {
    let h = app.spec.recipe.healthcheck.as_ref()?;
    let mut v = json!({ "Test": h.test });
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

/// The files an application copies (path in the image, path on the host); the analysis
/// skips those that are not ELF programs.
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
