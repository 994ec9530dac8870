//! What each subcommand does, on top of the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use debian::fetch::{Cache, Fetcher, Reporter};
use debian::release::{Keyring, ReleasePolicy};
use debian::sources::{Mirrors, host_mirrors};

use crate::app::AppSpec;
use crate::build::{BuildOptions, Layering, build};
use crate::catalog::{Catalog, ImageRef, RELEASES};
use crate::cli::{BuildArgs, CompressionArg, LayeringArg, SbomArg, SourceArgs};
use crate::plan::{Source, plan};
use crate::platform::{ARCHES, host_arch, oci_platform};
use crate::progress::BarReporter;
use crate::sbom::SbomFormats;

/// The default cache directory: `$XDG_CACHE_HOME/distroless` or `~/.cache/distroless`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("distroless");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/distroless")
}

/// Works out the mirrors: flags and environment first, then the host's apt configuration.
pub fn mirrors(args: &SourceArgs) -> anyhow::Result<Mirrors> {
    match &args.mirror {
        Some(m) => Ok(Mirrors::from_urls(m, args.security_mirror.as_deref())?),
        None => {
            let mut m = host_mirrors(std::path::Path::new("/"))?;
            if let Some(s) = &args.security_mirror {
                m.security = debian::sources::parse_url(s)?;
            }
            Ok(m)
        }
    }
}

fn source<'a>(args: &SourceArgs, reporter: &'a dyn Reporter) -> anyhow::Result<Source<'a>> {
    let mut keyring = if args.no_default_keyring {
        Keyring::default()
    } else {
        Keyring::embedded()?
    };
    for k in &args.keyring {
        keyring.add_file(k)?;
    }
    anyhow::ensure!(
        !keyring.is_empty(),
        "no trusted keys: --no-default-keyring needs --keyring FILE"
    );
    let cache_dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    Ok(Source {
        mirrors: mirrors(args)?,
        keyring,
        policy: ReleasePolicy {
            allow_expired: args.allow_expired_release,
            now: chrono::Utc::now(),
        },
        offline: args.offline,
        cache: Cache::open(&cache_dir)
            .with_context(|| format!("cache directory {}", cache_dir.display()))?,
        fetcher: Fetcher::new()?,
        reporter,
    })
}

/// The layer compression a flag names.
fn compression(arg: CompressionArg) -> oci::layer::Compression {
    match arg {
        CompressionArg::Gzip => oci::layer::Compression::Gzip,
        CompressionArg::Zstd => oci::layer::Compression::Zstd,
    }
}

/// Merges the application flags over a recipe (or an empty one).
fn app_spec(args: &BuildArgs) -> anyhow::Result<Option<AppSpec>> {
    let mut spec = match &args.file {
        Some(f) => crate::app::load(f)?,
        None if args.app.any() => AppSpec {
            recipe: crate::recipe::Recipe::parse("command line", "")?,
            file: "command line".into(),
            text: String::new(),
            dir: PathBuf::from("."),
        },
        None => return Ok(None),
    };
    let a = &args.app;
    let r = &mut spec.recipe;
    let pairs = |items: &[String], what: &str| -> anyhow::Result<Vec<(String, String)>> {
        items
            .iter()
            .map(|i| {
                i.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .with_context(|| format!("--{what} {i:?}: expected KEY=VALUE"))
            })
            .collect()
    };
    if let Some(f) = &a.from {
        r.from = Some(f.clone());
    }
    for c in &a.copy {
        let (src, dest) = c
            .rsplit_once(':')
            .with_context(|| format!("--copy {c:?}: expected SRC:DEST"))?;
        r.copy.push(crate::recipe::CopySpec {
            src: src.into(),
            dest: dest.into(),
            ..Default::default()
        });
    }
    r.packages.extend(a.packages.iter().cloned());
    if !a.entrypoint.is_empty() {
        r.entrypoint = Some(a.entrypoint.clone());
    }
    if !a.cmd.is_empty() {
        r.cmd = Some(a.cmd.clone());
    }
    r.env.extend(pairs(&a.env, "env")?);
    r.labels.extend(pairs(&a.label, "label")?);
    r.annotations.extend(pairs(&a.annotation, "annotation")?);
    if a.workdir.is_some() {
        r.workdir.clone_from(&a.workdir);
    }
    if a.user.is_some() {
        r.user.clone_from(&a.user);
    }
    r.exposed_ports.extend(a.expose.iter().cloned());
    r.volumes.extend(a.volume.iter().cloned());
    if a.stop_signal.is_some() {
        r.stop_signal.clone_from(&a.stop_signal);
    }
    if !a.tag.is_empty() {
        r.tags.clone_from(&a.tag);
    }
    Ok(Some(spec))
}

/// `distroless build`.
pub fn build_command(args: &BuildArgs) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let app = app_spec(args)?;
    if let Some(spec) = &app
        && let Some(from) = spec
            .recipe
            .from
            .as_deref()
            .filter(|f| crate::external::is_path(&spec.dir, f, &catalog) && *f != "auto")
    {
        let output = args
            .output
            .clone()
            .unwrap_or_else(|| PathBuf::from(&spec.recipe.name));
        let compression = compression(args.compression);
        let summary = crate::external::build(
            spec,
            from,
            &output,
            compression,
            args.source.source_date_epoch,
        )?;
        if args.json {
            serde_json::to_writer_pretty(std::io::stdout().lock(), &summary)?;
            println!();
        } else if !args.source.quiet {
            println!(
                "built {} on {from} → {} ({})",
                summary.image,
                summary.output.display(),
                summary.format
            );
        }
        return Ok(());
    }
    let image = match (&app, &args.image) {
        (Some(_), Some(i)) => {
            anyhow::bail!("give either an IMAGE or a recipe (-f / --from …), not both (got {i:?})")
        }
        (Some(spec), None) => match spec.base(&catalog)? {
            crate::app::Base::Catalog(r) => r,
            crate::app::Base::Auto(release) => {
                ImageRef::parse(&format!("static-debian{}", release.number), &catalog)?
            }
        },
        (None, Some(i)) => ImageRef::parse(i, &catalog)?,
        (None, None) => {
            anyhow::bail!("name an IMAGE (see `distroless list`) or a recipe with -f FILE")
        }
    };
    let recipe_arches = app
        .as_ref()
        .map(|a| a.recipe.arches.clone())
        .unwrap_or_default();
    let is_auto = app
        .as_ref()
        .is_some_and(|a| a.recipe.from.as_deref() == Some("auto"));
    let bars = !args.source.quiet && !args.json && std::io::stderr().is_terminal();
    let reporter = BarReporter::new(bars);
    let source = source(&args.source, &reporter)?;
    let arches = if args.all_arches {
        let offered = crate::plan::suite_architectures(&source, image.release.codename)?;
        ARCHES
            .iter()
            .map(|a| a.0)
            .filter(|a| *a != "i386" && offered.iter().any(|o| o == a))
            .map(str::to_string)
            .collect()
    } else if args.arches.is_empty() && !recipe_arches.is_empty() {
        arches_or_host(&recipe_arches)?
    } else {
        arches_or_host(&args.arches)?
    };
    let lock = if args.locked {
        Some(crate::lock::Lock::read(&args.lockfile)?)
    } else {
        None
    };
    if args.dry_run {
        return dry_run(&source, &catalog, &image, &arches, args.json, app.as_ref());
    }
    let default_name = app
        .as_ref()
        .map_or_else(|| image.name.clone(), |a| a.recipe.name.clone());
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_name));
    let opts = BuildOptions {
        image,
        arches,
        output,
        compression: compression(args.compression),
        layering: match args.layering {
            LayeringArg::Tier => Layering::Tier,
            LayeringArg::Package => Layering::Package,
        },
        epoch: args.source.source_date_epoch,
        allow_missing: args.allow_missing,
        lock,
        app,
        docker: args.format == crate::cli::FormatArg::Docker,
        auto: is_auto,
        sbom: match args.sbom {
            SbomArg::Spdx => SbomFormats::Spdx,
            SbomArg::Cyclonedx => SbomFormats::CycloneDx,
            SbomArg::Both => SbomFormats::Both,
            SbomArg::None => SbomFormats::None,
        },
    };
    let summary = build(&source, &catalog, &opts)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else if !args.source.quiet {
        writeln!(
            out,
            "built {} → {} ({})",
            summary.image,
            summary.output.display(),
            summary.format
        )?;
        for m in &summary.manifests {
            writeln!(
                out,
                "  {:8} {} packages, {} layers, {:.2} MB compressed, manifest {}",
                m.arch,
                m.packages,
                m.layers,
                m.compressed_size as f64 / 1e6,
                m.digest
            )?;
        }
        writeln!(out, "  index {}", summary.index_digest)?;
        for s in &summary.sboms {
            writeln!(out, "  sbom  {}", s.display())?;
        }
        if args.explain {
            for line in &summary.explain {
                writeln!(out, "  {line}")?;
            }
        }
    }
    Ok(())
}

fn dry_run(
    source: &Source<'_>,
    catalog: &Catalog,
    image: &ImageRef,
    arches: &[String],
    json: bool,
    app: Option<&AppSpec>,
) -> anyhow::Result<()> {
    let owned = crate::build::chain_with_app(catalog, &image.name, app)?;
    let chain: Vec<&crate::recipe::Recipe> = owned.iter().collect();
    let mut out = std::io::stdout().lock();
    let mut plans = Vec::new();
    for arch in arches {
        plans.push(plan(source, &chain, image, arch)?);
    }
    if json {
        serde_json::to_writer_pretty(&mut out, &plans)?;
        writeln!(out)?;
        return Ok(());
    }
    for p in &plans {
        writeln!(
            out,
            "{} for {} (Debian {}, released {})",
            p.image, p.arch, p.debian_version, p.release_date
        )?;
        for tier in &p.tiers {
            writeln!(out, "  tier {}:", tier.name)?;
            for pkg in &tier.packages {
                writeln!(
                    out,
                    "    {:32} {:32} {:>8} KiB  {}",
                    pkg.name,
                    pkg.version,
                    pkg.size.div_ceil(1024),
                    pkg.suite
                )?;
            }
        }
        let broken: Vec<_> = p.tiers.iter().flat_map(|t| &t.broken).collect();
        if !broken.is_empty() {
            writeln!(out, "  dependencies cut by exclusions:")?;
            let mut seen = std::collections::BTreeSet::new();
            for b in broken {
                if seen.insert((&b.package, &b.dependency)) {
                    writeln!(out, "    {} → {}", b.package, b.dependency)?;
                }
            }
        }
    }
    Ok(())
}

fn arches_or_host(arches: &[String]) -> anyhow::Result<Vec<String>> {
    let arches = if arches.is_empty() {
        vec![host_arch().to_string()]
    } else {
        arches.to_vec()
    };
    for a in &arches {
        oci_platform(a)?;
    }
    Ok(arches)
}

/// `distroless lock`.
pub fn lock_command(args: &crate::cli::LockArgs) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let reporter = BarReporter::new(!args.source.quiet && std::io::stderr().is_terminal());
    let source = source(&args.source, &reporter)?;
    let mut lock = crate::lock::Lock::read(&args.lockfile)?;
    let mut targets: Vec<(ImageRef, String)> = Vec::new();
    if args.images.is_empty() {
        anyhow::ensure!(
            args.update,
            "name the images to lock, or use --update to re-resolve the lock file"
        );
        for i in &lock.images {
            let r = ImageRef::parse(&format!("{}-debian{}", i.name, i.debian), &catalog)?;
            targets.push((r, i.arch.clone()));
        }
    } else {
        for text in &args.images {
            let r = ImageRef::parse(text, &catalog)?;
            for arch in arches_or_host(&args.arches)? {
                targets.push((r.clone(), arch));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    for (image, arch) in targets {
        let chain = catalog.chain(&image.name)?;
        let p = plan(&source, &chain, &image, &arch)?;
        let label = format!("{}-debian{} {arch}", image.name, image.release.number);
        let changes = lock.put(crate::lock::LockedImage::from_plan(&image.name, &p));
        if args.update {
            if changes.is_empty() {
                writeln!(out, "{label}: unchanged")?;
            }
            for c in changes {
                writeln!(out, "{label}: {c}")?;
            }
        } else if !args.source.quiet {
            let n: usize = p
                .tiers
                .iter()
                .map(|t| t.packages.len() + t.partial.len())
                .sum();
            writeln!(
                out,
                "{label}: {n} packages (Debian {}, {})",
                p.debian_version, p.release_date
            )?;
        }
    }
    lock.write(&args.lockfile)?;
    Ok(())
}

/// `distroless debug`.
pub fn debug_command(args: &crate::cli::DebugArgs) -> anyhow::Result<()> {
    let reporter = BarReporter::new(!args.source.quiet && std::io::stderr().is_terminal());
    let source = source(&args.source, &reporter)?;
    let release = crate::catalog::DebianRelease::from_number(args.debian)?;
    let tag = crate::debug::debug_image(
        &source,
        &args.image,
        &args.output,
        release,
        args.source.source_date_epoch,
    )?;
    if !args.source.quiet {
        println!(
            "built {} → {} (tag {tag})",
            args.image,
            args.output.display()
        );
    }
    Ok(())
}

/// `distroless needs`.
pub fn needs_command(args: &crate::cli::NeedsArgs) -> anyhow::Result<()> {
    let reporter = BarReporter::new(!args.source.quiet && std::io::stderr().is_terminal());
    let source = source(&args.source, &reporter)?;
    let release = crate::catalog::DebianRelease::from_number(args.debian)?;
    let arch = args.arch.clone().unwrap_or_else(|| host_arch().to_string());
    oci_platform(&arch)?;
    let programs: Vec<crate::auto::Program> = args
        .binaries
        .iter()
        .map(|b| {
            let name = b
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            crate::auto::Program {
                image_path: format!("/{name}"),
                host_path: b.clone(),
            }
        })
        .collect();
    for p in &programs {
        anyhow::ensure!(
            crate::auto::program_info(&p.host_path)?.is_some(),
            "{}: not an ELF program",
            p.host_path.display()
        );
    }
    let universe = crate::plan::load_universe(&source, release, &arch)?;
    let needs = crate::auto::analyse(
        &source,
        &universe,
        &programs,
        &arch,
        release.merged_usr(),
        &args.packages,
    )?;
    let mut out = std::io::stdout().lock();
    for s in &needs.static_programs {
        writeln!(
            out,
            "{s}: statically linked: needs nothing, lands on static"
        )?;
    }
    if !needs.files.is_empty() {
        writeln!(out, "packages (Debian {}, {arch}):", release.number)?;
        for (name, (pkg, files)) in &needs.files {
            writeln!(
                out,
                "  {name} {}: {}",
                pkg.version,
                files
                    .iter()
                    .map(|f| format!("/{f}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )?;
        }
        writeln!(out, "why:")?;
        for line in &needs.explain {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

/// `distroless list`.
pub fn list_command(json: bool) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let mut out = std::io::stdout().lock();
    let arches: Vec<&str> = ARCHES
        .iter()
        .map(|a| a.0)
        .filter(|a| *a != "i386")
        .collect();
    if json {
        let items: Vec<serde_json::Value> = catalog
            .recipes()
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "from": r.from,
                    "description": r.description,
                    "debian": RELEASES.iter().map(|d| serde_json::json!({
                        "release": d.number,
                        "codename": d.codename,
                        "packages": r.packages_for(d.number),
                    })).collect::<Vec<_>>(),
                    "tags": ["latest", "nonroot", "debug", "debug-nonroot"],
                    "arches": arches,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &items)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:12} {:12} {:10} DESCRIPTION",
        "IMAGE", "FROM", "DEBIAN"
    )?;
    for r in catalog.recipes() {
        let debs: Vec<String> = RELEASES.iter().map(|d| d.number.to_string()).collect();
        writeln!(
            out,
            "{:12} {:12} {:10} {}",
            r.name,
            r.from.as_deref().unwrap_or("-"),
            debs.join(","),
            r.description
        )?;
    }
    writeln!(out, "\ntags: latest, nonroot, debug, debug-nonroot")?;
    writeln!(out, "architectures: {}", arches.join(", "))?;
    Ok(())
}
