//! The flags of `distroless build` (one image, an application, or a family).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{JsonArgs, PolicyArgs, RegistryArgs, SourceArgs};
use crate::cli::env;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum CompressionArg {
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum FormatArg {
    Oci,
    Docker,
}

impl From<FormatArg> for distroless::model::destination::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Oci => Self::Oci,
            FormatArg::Docker => Self::Docker,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum SbomArg {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
    Both,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum LayeringArg {
    /// One layer per tier (static, then what base adds, then what cc adds).
    Tier,
    /// One layer per package.
    Package,
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Image reference: NAME[-debian12|-debian13][:latest|nonroot|debug|debug-nonroot].
    /// Without a -debianN suffix, Debian 13 is used. Not needed with -f.
    pub(crate) image: Option<String>,

    /// Build the application image described by a recipe file (distroless.toml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub(crate) file: Option<std::path::PathBuf>,

    /// Build a family in one process: the images, Debian releases, tags and architectures a
    /// matrix file names, into one OCI layout (-o DIR, refs REPOSITORY:TAG) and/or a registry
    /// (--push HOST[:PORT][/PREFIX]). Shared layers are built once.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["image", "file"])]
    pub(crate) matrix: Option<std::path::PathBuf>,

    /// Build the whole catalog as a matrix (every image, release and tag; images whose
    /// sources beyond Debian are not given on the command line are skipped, and said).
    #[arg(long, conflicts_with_all = ["image", "file", "matrix"])]
    pub(crate) all: bool,

    #[command(flatten)]
    pub(crate) app: AppArgs,

    /// Build context: files a recipe copies must be inside it (default: the recipe's
    /// directory, or the current directory without -f).
    #[arg(long, value_name = "DIR", help_heading = "Build")]
    pub(crate) context: Option<PathBuf>,

    /// Output: a directory (OCI image layout) or a file ending in .tar (oci-archive).
    /// Defaults to ./NAME.
    #[arg(short, long, help_heading = "Build")]
    pub(crate) output: Option<PathBuf>,

    /// Debian architecture to build (repeat for a multi-arch index). Defaults to the host's.
    #[arg(long = "arch", value_name = "ARCH", help_heading = "Build")]
    pub(crate) arches: Vec<String>,

    /// Layer compression.
    #[arg(long, value_enum, default_value = "gzip", help_heading = "Build")]
    pub(crate) compression: CompressionArg,

    /// How packages are grouped into layers.
    #[arg(long, value_enum, default_value = "tier", help_heading = "Build")]
    pub(crate) layering: LayeringArg,

    /// Build every architecture the Debian suite offers (amd64, arm64, armhf, s390x, ppc64el,
    /// riscv64 where present) into one index.
    #[arg(long, conflicts_with = "arches", help_heading = "Build")]
    pub(crate) all_arches: bool,

    /// Build exactly the packages pinned in the lock file (see `distroless lock`).
    #[arg(long, help_heading = "Build")]
    pub(crate) locked: bool,

    /// The lock file used by --locked.
    #[arg(
        long,
        default_value = "distroless.lock",
        value_name = "FILE",
        help_heading = "Build"
    )]
    pub(crate) lockfile: std::path::PathBuf,

    /// Replace an existing layout at -o instead of adding the new tags to it (its other tags
    /// are kept by default, as `skopeo copy` keeps them).
    #[arg(long, help_heading = "Build")]
    pub(crate) replace: bool,

    /// Audit the result (see `distroless audit`) before anything is written; a finding stops
    /// the build.
    #[arg(long, help_heading = "Build")]
    pub(crate) audit: bool,

    #[command(flatten)]
    pub(crate) audit_policy: PolicyArgs,

    /// Push the result to HOST[:PORT]/REPOSITORY[:TAG] (repeatable); -o is then optional.
    /// With --matrix: HOST[:PORT][/PREFIX], or a bare --push for the file's `registry`.
    #[arg(
        long,
        value_name = "REF",
        num_args = 0..=1,
        default_missing_value = "",
        help_heading = "Registry and signing"
    )]
    pub(crate) push: Vec<String>,

    /// With --push: also tag each platform's manifest TAG-ARCH.
    #[arg(long, requires = "push", help_heading = "Registry and signing")]
    pub(crate) arch_tags: bool,

    /// Share the cache through a registry repository (HOST[:PORT]/REPOSITORY): plans, package
    /// facts and layers the local cache lacks are taken from it (every layer blob digest-checked,
    /// its index rebuilt from its bytes) and what is built is stored there. On a fresh CI
    /// runner no `.deb` is fetched for an unchanged image, and a push to the same registry
    /// mounts the layers instead of uploading them. A failing repository is reported and the
    /// build goes on without it.
    #[arg(
        long,
        env = env::CACHE_REPO,
        value_name = "REPO",
        help_heading = "Registry and signing"
    )]
    pub(crate) cache_repo: Option<String>,

    /// Sign the image and attest its SBOMs and provenance, as `distroless sign` and `attest`
    /// do: in the OCI layout written (-o DIR) and in the registry (--push).
    #[arg(long, requires = "key", help_heading = "Registry and signing")]
    pub(crate) sign: bool,

    /// The private key for --sign (cosign's format; password from $DISTROLESS_PASSWORD or
    /// stdin).
    #[arg(
        long,
        value_name = "FILE",
        requires = "sign",
        help_heading = "Registry and signing"
    )]
    pub(crate) key: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) registry: RegistryArgs,

    /// Resolve and print the package set (versions, sizes, cut dependencies); build nothing.
    #[arg(long, help_heading = "Output")]
    pub(crate) dry_run: bool,

    /// Output format: oci (a layout directory, or an oci-archive when -o ends in .tar) or
    /// docker (a docker-archive file for `docker load` / `podman load`).
    #[arg(long, value_enum, default_value = "oci", help_heading = "Output")]
    pub(crate) format: FormatArg,

    /// SBOMs written next to the output (OUT.spdx.json, OUT.cdx.json).
    #[arg(long, value_enum, default_value = "both", help_heading = "Output")]
    pub(crate) sbom: SbomArg,

    /// With `from = "auto"`: print why every library file is in the image.
    #[arg(long, help_heading = "Output")]
    pub(crate) explain: bool,

    /// Build even when an ELF file needs a library that is not in the image (warn instead).
    #[arg(long, help_heading = "Output")]
    pub(crate) allow_missing: bool,

    #[command(flatten)]
    pub(crate) json: JsonArgs,

    #[command(flatten)]
    pub(crate) source: SourceArgs,
}

/// Recipe keys as flags, for one-off application images (they override the recipe file).
#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Application image (recipe keys as flags)")]
pub(crate) struct AppArgs {
    /// Base: a catalog image (cc-debian13:nonroot) or "auto".
    #[arg(long, value_name = "IMAGE")]
    pub(crate) from: Option<String>,
    /// Copy a local file or directory into the image: SRC:DEST (repeatable, one layer each).
    #[arg(long, value_name = "SRC:DEST")]
    pub(crate) copy: Vec<String>,
    /// Extra Debian package (repeatable).
    #[arg(long = "package", value_name = "NAME")]
    pub(crate) packages: Vec<String>,
    /// Entrypoint word (repeat for arguments: --entrypoint /app --entrypoint --serve).
    #[arg(long, value_name = "WORD", allow_hyphen_values = true)]
    pub(crate) entrypoint: Vec<String>,
    /// Cmd word (repeatable).
    #[arg(long, value_name = "WORD", allow_hyphen_values = true)]
    pub(crate) cmd: Vec<String>,
    /// Environment variable KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) env: Vec<String>,
    /// Working directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) workdir: Option<String>,
    /// User name or uid (a name must exist in the image's passwd).
    #[arg(long, value_name = "USER")]
    pub(crate) user: Option<String>,
    /// Label KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) label: Vec<String>,
    /// Manifest annotation KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) annotation: Vec<String>,
    /// Exposed port, e.g. 8080 or 53/udp (repeatable).
    #[arg(long, value_name = "PORT")]
    pub(crate) expose: Vec<String>,
    /// Volume path (repeatable).
    #[arg(long, value_name = "PATH")]
    pub(crate) volume: Vec<String>,
    /// Stop signal, e.g. SIGTERM.
    #[arg(long, value_name = "SIGNAL")]
    pub(crate) stop_signal: Option<String>,
    /// Tag of the result in the layout (repeatable; default: the variant, e.g. latest).
    #[arg(long, value_name = "TAG")]
    pub(crate) tag: Vec<String>,
    /// Image name (default output ./NAME, title annotation, docker repository).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// Image description (the description annotation).
    #[arg(long, value_name = "TEXT")]
    pub(crate) description: Option<String>,
    /// Debian release of `--from auto` (12 or 13; default 13).
    #[arg(long, value_name = "N")]
    pub(crate) debian: Option<u32>,
    /// Leave a dependency out of the packages added (repeatable).
    #[arg(long = "exclude-package", value_name = "NAME")]
    pub(crate) exclude_packages: Vec<String>,
    /// Extra CA certificate file (PEM) for the bundle (repeatable).
    #[arg(long = "ca-certificate", value_name = "FILE")]
    pub(crate) ca_certificates: Vec<String>,
    /// Healthcheck command word, run without a shell (repeat for arguments:
    /// --healthcheck /app --healthcheck health); `--healthcheck NONE` turns the base's off.
    #[arg(long, value_name = "WORD", allow_hyphen_values = true)]
    pub(crate) healthcheck: Vec<String>,
    /// Time between healthchecks, e.g. 30s (with --healthcheck).
    #[arg(long, value_name = "DURATION", requires = "healthcheck")]
    pub(crate) healthcheck_interval: Option<String>,
}

impl From<&AppArgs> for distroless::app::overrides::Overrides {
    fn from(a: &AppArgs) -> Self {
        Self {
            from: a.from.clone(),
            copy: a.copy.clone(),
            packages: a.packages.clone(),
            entrypoint: a.entrypoint.clone(),
            cmd: a.cmd.clone(),
            env: a.env.clone(),
            workdir: a.workdir.clone(),
            user: a.user.clone(),
            label: a.label.clone(),
            annotation: a.annotation.clone(),
            expose: a.expose.clone(),
            volume: a.volume.clone(),
            stop_signal: a.stop_signal.clone(),
            tag: a.tag.clone(),
            name: a.name.clone(),
            description: a.description.clone(),
            debian: a.debian,
            exclude_packages: a.exclude_packages.clone(),
            ca_certificates: a.ca_certificates.clone(),
            healthcheck: a.healthcheck.clone(),
            healthcheck_interval: a.healthcheck_interval.clone(),
        }
    }
}
