//! Command-line definitions (clap): only the surface. Each subcommand module turns these into
//! the library's typed request.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build distroless container images straight from Debian packages.
///
/// No Docker daemon, no Bazel, no shell in the result: packages are fetched from a signed
/// Debian archive, unpacked without running maintainer scripts, and written as OCI images.
#[derive(Debug, Parser)]
#[command(name = "distroless", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Build a catalog image, or an application image from a recipe (-f distroless.toml).
    ///
    /// Catalog (`distroless list` says more): static, base-nossl, base, cc, python3, java17,
    /// java21, java25, java-base, nodejs, nodejs22/24/26 (official binaries: --archive-mirror,
    /// --archive-key), java17/21/25-temurin (Adoptium: --repository, --repository-key). A
    /// family in one go: --matrix FILE or --all.
    ///
    /// Examples:
    ///   distroless build static
    ///   distroless build -f distroless.toml --explain
    ///   distroless build --from cc:nonroot --copy build/app:/app --entrypoint /app -o app
    ///   distroless build cc-debian12:nonroot -o cc.tar
    ///   distroless build base:debug --arch amd64 --arch arm64 -o base-debug
    #[command(verbatim_doc_comment)]
    Build(Box<BuildArgs>),
    /// Pin the exact packages of images in distroless.lock (or print what changed with --update).
    ///
    /// Examples:
    ///   distroless lock cc-debian12 python3 --arch amd64 --arch arm64
    ///   distroless lock -f distroless.toml           # an application recipe (base + its packages)
    ///   distroless lock --update                     # re-resolve everything in the lock
    ///   distroless build cc-debian12 --locked        # build exactly the locked set
    #[command(verbatim_doc_comment)]
    Lock(LockArgs),
    /// Turn any image into its debug variant: add a busybox layer (and nothing else).
    ///
    /// Examples:
    ///   distroless debug ./app -o app-debug                 # OCI layout (first image)
    ///   distroless debug ./app:1.0 -o app-debug.tar         # a tag, to an oci-archive
    ///   distroless debug saved.tar -o saved-debug           # oci-archive or docker-archive
    #[command(verbatim_doc_comment)]
    Debug(DebugArgs),
    /// Print what a program needs: its interpreter and libraries, and the Debian packages
    /// and files that provide them (what `from = "auto"` would put in the image).
    Needs(NeedsArgs),
    /// List the catalog: images, what they hold, Debian releases and architectures.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Push an image on disk to a registry: an OCI layout (DIR or DIR:TAG), an oci-archive or
    /// a docker-archive.
    ///
    /// Blobs the registry has are not sent; manifests go by digest first and tags last, so a
    /// failed push never leaves a tag on an incomplete image.
    ///
    /// Examples:
    ///   distroless push ./shop 127.0.0.1:5000/team/shop:1.2
    ///   distroless push ./base:nonroot reg.example/base:nonroot --tag nonroot-2026 --arch-tags
    #[command(verbatim_doc_comment)]
    Push(PushArgs),
    /// Pull an image from a registry into an OCI layout, an oci-archive or a docker-archive,
    /// every digest checked.
    ///
    /// Examples:
    ///   distroless pull 127.0.0.1:5000/team/shop:1.2 -o shop
    ///   distroless pull reg.example/base@sha256:… --platform linux/arm64 -o base.tar
    #[command(verbatim_doc_comment)]
    Pull(PullArgs),
    /// Store credentials for a registry in Docker's config.json (the password is read from
    /// standard input).
    ///
    /// Example:
    ///   printf %s "$TOKEN" | distroless login reg.example -u ci
    #[command(verbatim_doc_comment)]
    Login(LoginArgs),
    /// Remove a registry's credentials from Docker's config.json.
    Logout {
        /// The registry (HOST[:PORT]).
        registry: String,
    },
    /// See inside any image: platforms, layers (sizes, what made them, the packages they
    /// bring), settings, Debian packages and their share of the size, the largest files, and
    /// bytes wasted by later layers.
    ///
    /// IMAGE is an OCI layout (DIR or DIR:TAG), an oci-archive, a docker-archive, or a
    /// registry reference (HOST[:PORT]/REPO[:TAG][@DIGEST], pulled into the cache first).
    ///
    /// Examples:
    ///   distroless inspect ./cc
    ///   distroless inspect ./cc --tree /etc
    ///   distroless inspect 127.0.0.1:5000/team/shop:1.2 --json
    #[command(verbatim_doc_comment)]
    Inspect(InspectArgs),
    /// What changed between two images: packages, files (content, mode, owner, link), settings;
    /// per platform. Exit status 0 when equal, 1 when not, 2 when an image cannot be read (for CI).
    ///
    /// Examples:
    ///   distroless diff ./cc-old ./cc-new
    ///   distroless diff ./cc-debian12 ./cc-debian13 --json
    #[command(verbatim_doc_comment)]
    Diff(DiffArgs),
    /// Police an image: no shell (by name or content), no package manager, a non-root user,
    /// no setuid files, no world-writable directories, root-owned system files, a valid CA
    /// bundle, time zone data, every ELF file's libraries, no secrets, a size budget, allowed
    /// packages. Exit status 0 when it passes, 1 when not, 2 when the image cannot be read.
    ///
    /// Examples:
    ///   distroless audit ./cc
    ///   distroless audit ./base-debug --allow-busybox
    ///   distroless audit 127.0.0.1:5000/team/shop:1.2 --policy policy.toml --format sarif > audit.sarif
    #[command(verbatim_doc_comment)]
    Audit(AuditArgs),
    /// Make a signing key pair in cosign's formats: DIR/cosign.key (encrypted with the password
    /// from $DISTROLESS_PASSWORD, or standard input) and DIR/cosign.pub. cosign reads them, and
    /// keys cosign made work here.
    ///
    /// Example:
    ///   printf %s "$PASSWORD" | distroless keygen -o keys
    #[command(verbatim_doc_comment)]
    Keygen {
        /// Directory for cosign.key and cosign.pub.
        #[arg(short, long, default_value = ".")]
        output: PathBuf,
    },
    /// Sign an image with a cosign key: its index and every platform manifest. In a registry,
    /// stored as cosign 2 stores signatures (the `sha256-<digest>.sig` tag) and as cosign 3
    /// does (a sigstore bundle attached as an OCI 1.1 referrer), so `cosign verify --key
    /// cosign.pub` of either version accepts them; in an OCI layout, as referrers that
    /// `distroless push` carries along. The password comes from $DISTROLESS_PASSWORD or stdin.
    ///
    /// Examples:
    ///   printf %s "$PASSWORD" | distroless sign 127.0.0.1:5000/team/shop:1.2 --key cosign.key
    ///   DISTROLESS_PASSWORD=... distroless sign ./shop --key cosign.key
    #[command(verbatim_doc_comment)]
    Sign(SignArgs),
    /// Attach signed in-toto attestations to an image: the SPDX and CycloneDX SBOMs and the
    /// SLSA provenance v1 a build wrote beside its output (every .deb with its URL and
    /// SHA-256, the InRelease files, the recipe and its digest, the copied files, the command
    /// line). Stored as cosign's `.att` tag (DSSE envelopes) and as referrers (sigstore
    /// bundles), so `cosign verify-attestation --type spdxjson|cyclonedx|slsaprovenance1`
    /// accepts them. The build's files must be about this image's digest.
    ///
    /// Examples:
    ///   distroless build cc-debian13 -o out/cc && distroless push out/cc 127.0.0.1:5000/cc
    ///   distroless attest 127.0.0.1:5000/cc:latest --from out/cc --key cosign.key
    ///   distroless attest ./out/cc --key cosign.key      (a layout: its own files beside it)
    #[command(verbatim_doc_comment)]
    Attest(AttestArgs),
    /// Check an image's signatures and attestations with a public key. Every signature and
    /// attestation found must verify with the key and be about this image; one signature is
    /// required, and one attestation of each --attestation kind. Prints what was verified;
    /// exits 1 on anything missing or wrong, naming it.
    ///
    /// Examples:
    ///   distroless verify 127.0.0.1:5000/team/shop:1.2 --key cosign.pub
    ///   distroless verify 127.0.0.1:5000/cc --key cosign.pub --attestation slsa --attestation spdx
    #[command(verbatim_doc_comment)]
    Verify(VerifyArgs),
    /// Print a shell completion script.
    ///
    /// Examples:
    ///   distroless completions bash > /etc/bash_completion.d/distroless
    ///   distroless completions zsh > "${fpath[1]}/_distroless"
    ///   distroless completions fish > ~/.config/fish/completions/distroless.fish
    #[command(verbatim_doc_comment)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

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
        env = "DISTROLESS_CACHE_REPO",
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

    /// Print the result (or, with --dry-run, the plan) as JSON on stdout.
    #[arg(long, help_heading = "Output")]
    pub(crate) json: bool,

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

impl AppArgs {
    /// Whether any application flag was given.
    pub(crate) fn any(&self) -> bool {
        self.from.is_some()
            || self.name.is_some()
            || self.description.is_some()
            || self.debian.is_some()
            || !self.exclude_packages.is_empty()
            || !self.ca_certificates.is_empty()
            || !self.healthcheck.is_empty()
            || !self.copy.is_empty()
            || !self.packages.is_empty()
            || !self.entrypoint.is_empty()
            || !self.cmd.is_empty()
            || !self.env.is_empty()
            || self.workdir.is_some()
            || self.user.is_some()
            || !self.label.is_empty()
            || !self.annotation.is_empty()
            || !self.expose.is_empty()
            || !self.volume.is_empty()
            || self.stop_signal.is_some()
            || !self.tag.is_empty()
    }
}

#[derive(Debug, Args)]
pub(crate) struct DebugArgs {
    /// An OCI layout directory (DIR or DIR:TAG), an oci-archive or a docker-archive.
    pub(crate) image: String,
    /// Output: a directory (OCI layout) or a .tar file (oci-archive).
    #[arg(short, long)]
    pub(crate) output: std::path::PathBuf,
    /// Debian release whose busybox-static is used.
    #[arg(long, default_value = "13")]
    pub(crate) debian: u32,
    /// Output format: oci (a layout, or an oci-archive for -o *.tar) or docker (a
    /// docker-archive, one architecture).
    #[arg(long, value_enum, default_value = "oci")]
    pub(crate) format: FormatArg,
    /// Replace an existing layout at -o instead of adding the debug tag to it.
    #[arg(long)]
    pub(crate) replace: bool,
    #[command(flatten)]
    pub(crate) source: SourceArgs,
}

#[derive(Debug, Args)]
pub(crate) struct NeedsArgs {
    /// ELF programs to analyse.
    #[arg(required = true)]
    pub(crate) binaries: Vec<std::path::PathBuf>,
    /// Debian release to find the libraries in.
    #[arg(long, default_value = "13")]
    pub(crate) debian: u32,
    /// Debian architecture. Defaults to the host's.
    #[arg(long)]
    pub(crate) arch: Option<String>,
    /// Extra packages to look in (repeatable).
    #[arg(long = "package", value_name = "NAME")]
    pub(crate) packages: Vec<String>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) source: SourceArgs,
}

/// How to talk to registries.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Registry")]
pub(crate) struct RegistryArgs {
    /// Allow plain HTTP for a registry that is not on this machine (loopback registries may
    /// always use it).
    #[arg(long)]
    pub(crate) insecure: bool,
    /// Trust these PEM certificates too (a registry with its own CA); HTTPS is then used even
    /// on loopback.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Blobs sent or fetched at once.
    #[arg(long, default_value = "4", value_name = "N")]
    pub(crate) jobs: usize,
    /// Attempts per request (408, 429, 5xx, resets and timeouts are retried with backoff).
    #[arg(long, default_value = "6", value_name = "N")]
    pub(crate) attempts: u32,
    /// The largest image pushed or pulled, in bytes of blobs.
    #[arg(long, default_value = "17179869184", value_name = "BYTES")]
    pub(crate) max_image_bytes: u64,
    /// Send blobs in PATCH chunks of this many bytes (for registries that refuse large
    /// requests) instead of one PUT each.
    #[arg(long, value_name = "BYTES")]
    pub(crate) chunk_size: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// The image: an OCI layout (DIR or DIR:TAG), an oci-archive or a docker-archive.
    pub(crate) source: String,
    /// Where to: HOST[:PORT]/REPOSITORY[:TAG] (repeatable; the first one's repository gets
    /// --tag too).
    #[arg(required = true)]
    pub(crate) refs: Vec<String>,
    /// Another tag for the first reference's repository (repeatable).
    #[arg(long, value_name = "TAG")]
    pub(crate) tag: Vec<String>,
    /// Also tag each platform's manifest TAG-ARCH (latest-amd64, nonroot-arm64).
    #[arg(long)]
    pub(crate) arch_tags: bool,
    /// Print what was pushed as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Cache directory (where blobs were seen, for mounts across pushes).
    #[arg(long, env = "DISTROLESS_CACHE_DIR", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// HOST[:PORT]/REPOSITORY[:TAG][@sha256:…]
    pub(crate) reference: String,
    /// Output: a directory (OCI layout), FILE.tar (oci-archive), or a docker-archive with
    /// --format docker.
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    /// Only this platform (os/arch[/variant], e.g. linux/arm64); default every platform.
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "oci")]
    pub(crate) format: FormatArg,
    /// Replace an existing layout at -o instead of adding the tag to it.
    #[arg(long)]
    pub(crate) replace: bool,
    /// Print what was pulled as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

/// How far a layer may expand when `inspect`, `audit` and `diff` read it.
#[derive(Debug, Args, Clone, Copy)]
#[command(next_help_heading = "Layer limits")]
pub(crate) struct ExpansionArgs {
    /// A layer may hold this many times its compressed size (at least 64 MiB): a small layer
    /// of compressed zeros cannot keep the reader busy for hours.
    #[arg(long, value_name = "RATIO", default_value_t = 1024)]
    pub(crate) max_layer_ratio: u64,
    /// A layer may hold at most this many bytes of tar.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 30)]
    pub(crate) max_layer_bytes: u64,
}

impl ExpansionArgs {
    pub(crate) fn limits(self) -> distroless::inspect::fs::Expansion {
        distroless::inspect::fs::Expansion {
            ratio: self.max_layer_ratio,
            max_bytes: self.max_layer_bytes,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The image (layout, archive or registry reference).
    pub(crate) image: String,
    /// List the merged file system (below PATH): mode, owner, size, link target.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "/")]
    pub(crate) tree: Option<String>,
    /// Only this platform (os/arch[/variant]).
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Cache directory (where registry images are pulled).
    #[arg(long, env = "DISTROLESS_CACHE_DIR", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) limits: ExpansionArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

/// The audit's policy, as flags.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Audit")]
pub(crate) struct PolicyArgs {
    /// A TOML policy file (skip = [rules], allow_busybox, max_bytes, max_compressed_bytes,
    /// forbidden_packages, allowed_packages).
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// Allow busybox below /busybox/ (the debug variants).
    #[arg(long)]
    pub(crate) allow_busybox: bool,
    /// Fail (not just warn) when the image runs as root.
    #[arg(long)]
    pub(crate) require_non_root: bool,
}

/// How audit findings are printed.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum ReportFormat {
    Human,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// The image (layout, archive or registry reference).
    pub(crate) image: String,
    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
    /// Output: human, json, or sarif (SARIF 2.1.0, for code-scanning dashboards).
    #[arg(long, value_enum, default_value = "human")]
    pub(crate) format: ReportFormat,
    /// Cache directory (where registry images are pulled).
    #[arg(long, env = "DISTROLESS_CACHE_DIR", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) limits: ExpansionArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The old image.
    pub(crate) a: String,
    /// The new image.
    pub(crate) b: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Cache directory (where registry images are pulled).
    #[arg(long, env = "DISTROLESS_CACHE_DIR", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) limits: ExpansionArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// HOST[:PORT]/REPOSITORY[:TAG][@DIGEST], or an OCI layout (DIR or DIR:TAG).
    pub(crate) reference: String,
    /// The private key (cosign's format; password from $DISTROLESS_PASSWORD or stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AttestArgs {
    /// HOST[:PORT]/REPOSITORY[:TAG][@DIGEST], or an OCI layout (DIR or DIR:TAG).
    pub(crate) reference: String,
    /// The private key (cosign's format; password from $DISTROLESS_PASSWORD or stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The build output (or its OUT.provenance.json) whose SBOMs and provenance to attach;
    /// for a layout, the layout itself unless given.
    #[arg(long, value_name = "PATH")]
    pub(crate) from: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

/// An attestation kind `verify` can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AttestationArg {
    Spdx,
    Cyclonedx,
    Slsa,
}

impl AttestationArg {
    pub(crate) fn predicate(self) -> sign::statement::Predicate {
        match self {
            AttestationArg::Spdx => sign::statement::Predicate::Spdx,
            AttestationArg::Cyclonedx => sign::statement::Predicate::CycloneDx,
            AttestationArg::Slsa => sign::statement::Predicate::Slsa,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// HOST[:PORT]/REPOSITORY[:TAG][@DIGEST], or an OCI layout (DIR or DIR:TAG).
    pub(crate) reference: String,
    /// The public key (PEM, as `cosign.pub`).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Require an attestation of this kind (repeatable).
    #[arg(long, value_enum, value_name = "KIND")]
    pub(crate) attestation: Vec<AttestationArg>,
    /// Require simple-signing signatures to name this image's repository (refuses a
    /// signature copied from another repository).
    #[arg(long)]
    pub(crate) match_repository: bool,
    /// Print what was verified as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The registry (HOST[:PORT]).
    pub(crate) registry: String,
    /// The user name.
    #[arg(short, long)]
    pub(crate) username: String,
    #[command(flatten)]
    pub(crate) registry_args: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    /// Images to lock (the tag does not matter: every variant uses the same packages).
    pub(crate) images: Vec<String>,

    /// Lock an application recipe's packages (its base's and its own; with `from = "auto"`,
    /// the library files its programs need). Default: ./distroless.toml when no image is named.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "RECIPE",
        conflicts_with = "images"
    )]
    pub(crate) file: Option<PathBuf>,

    /// Build context of the recipe (see `build --context`).
    #[arg(long, value_name = "DIR")]
    pub(crate) context: Option<PathBuf>,

    /// Debian architectures to lock (repeatable). Defaults to the recipe's, or the host's.
    #[arg(long = "arch", value_name = "ARCH")]
    pub(crate) arches: Vec<String>,

    /// Re-resolve (all images of the lock file when none are named) and print the version
    /// changes, old → new.
    #[arg(long)]
    pub(crate) update: bool,

    /// The lock file.
    #[arg(long, default_value = "distroless.lock", value_name = "FILE")]
    pub(crate) lockfile: std::path::PathBuf,

    #[command(flatten)]
    pub(crate) source: SourceArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// Debian mirror URL (http://, https:// or file://). Default: the host's apt sources.
    #[arg(long, env = "DISTROLESS_MIRROR", value_name = "URL")]
    pub(crate) mirror: Option<String>,

    /// Debian security mirror URL. Default: the host's apt sources, or derived from --mirror.
    #[arg(long, env = "DISTROLESS_SECURITY_MIRROR", value_name = "URL")]
    pub(crate) security_mirror: Option<String>,

    /// Extra OpenPGP key file (binary or armored) trusted to sign InRelease files.
    #[arg(long, value_name = "FILE")]
    pub(crate) keyring: Vec<PathBuf>,

    /// Trust only the --keyring files, not Debian's embedded archive keys.
    #[arg(long)]
    pub(crate) no_default_keyring: bool,

    /// Accept releases past their Valid-Until date (for snapshot mirrors).
    #[arg(long)]
    pub(crate) allow_expired_release: bool,

    /// Cache directory. Default: $XDG_CACHE_HOME/distroless or ~/.cache/distroless.
    #[arg(long, env = "DISTROLESS_CACHE_DIR", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,

    /// Give up on a download attempt when the mirror sends nothing for this long (each
    /// download is tried 6 times, with backoff).
    #[arg(
        long,
        env = "DISTROLESS_HTTP_TIMEOUT",
        default_value = "30",
        value_name = "SECONDS"
    )]
    pub(crate) http_timeout: u64,

    /// Where archive NAME of a recipe (or of a catalog image: `node`) is fetched from:
    /// NAME=URL, filling `{mirror}` in its URLs (repeatable; also
    /// $DISTROLESS_ARCHIVE_MIRROR=NAME=URL,…).
    #[arg(long, value_name = "NAME=URL", help_heading = "Sources beyond Debian")]
    pub(crate) archive_mirror: Vec<String>,

    /// The OpenPGP key (armored or binary) archive NAME's checksum file must be signed with:
    /// NAME=FILE, e.g. node=nodejs-release-keys.asc (repeatable; also $DISTROLESS_ARCHIVE_KEY).
    #[arg(long, value_name = "NAME=FILE", help_heading = "Sources beyond Debian")]
    pub(crate) archive_key: Vec<String>,

    /// Where apt repository NAME of a recipe (or of a catalog image: `adoptium`) is:
    /// NAME=URL (repeatable; also $DISTROLESS_REPOSITORY).
    #[arg(long, value_name = "NAME=URL", help_heading = "Sources beyond Debian")]
    pub(crate) repository: Vec<String>,

    /// The only key repository NAME's InRelease may be signed with: NAME=FILE (repeatable;
    /// also $DISTROLESS_REPOSITORY_KEY).
    #[arg(long, value_name = "NAME=FILE", help_heading = "Sources beyond Debian")]
    pub(crate) repository_key: Vec<String>,

    /// Build from the cache alone; fail with the list of what is missing.
    #[arg(long)]
    pub(crate) offline: bool,

    /// No progress bars.
    #[arg(short, long)]
    pub(crate) quiet: bool,

    /// Timestamp (seconds since the epoch) for every file and the image config.
    #[arg(
        long,
        env = "SOURCE_DATE_EPOCH",
        default_value = "0",
        value_name = "SECONDS"
    )]
    pub(crate) source_date_epoch: u64,
}
