//! Command-line definitions (clap): only the surface. Each subcommand module turns these into
//! the library's typed request.

mod build;
mod shared;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub(crate) use build::*;
pub(crate) use shared::*;

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

#[derive(Debug, Args)]
pub(crate) struct DebugArgs {
    /// An OCI layout directory (DIR or DIR:TAG), an oci-archive, a docker-archive, or a
    /// registry reference (pulled into the cache first).
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
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
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
    #[command(flatten)]
    pub(crate) json: JsonArgs,
    #[command(flatten)]
    pub(crate) source: SourceArgs,
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
    #[command(flatten)]
    pub(crate) json: JsonArgs,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
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
    #[command(flatten)]
    pub(crate) json: JsonArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
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
    #[command(flatten)]
    pub(crate) json: JsonArgs,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
    #[command(flatten)]
    pub(crate) limits: ExpansionArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
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
    /// The same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
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
    #[command(flatten)]
    pub(crate) json: JsonArgs,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
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
    pub(crate) json: JsonArgs,
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
    pub(crate) json: JsonArgs,
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
    #[command(flatten)]
    pub(crate) json: JsonArgs,
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
