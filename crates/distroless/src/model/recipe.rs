//! The TOML recipe model: what an image is made of.
//!
//! Catalog images (`images/*.toml`) are recipes too. Unknown keys and wrong types are errors
//! that name the file, line and key; this module only reads, it never resolves packages.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The language runtime an image carries: named in annotations with its version (as the
/// published images do), and optionally exported in an environment variable.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// `java`, `python`, `nodejs`.
    pub name: String,
    /// Packages whose upstream version is the runtime's: the first the image holds counts
    /// (`["python3.11-minimal", "python3.13-minimal"]` covers both releases).
    #[serde(default)]
    pub packages: Vec<String>,
    /// …or the `[[archives]]` entry whose version it is (`node`).
    pub archive: Option<String>,
    /// Where it comes from, in `distroless list` (default: the Debian archive).
    pub origin: Option<String>,
    /// An environment variable set to that version (`JAVA_VERSION`).
    pub env: Option<String>,
}

/// An upstream archive a recipe unpacks into the image (`[[archives]]`): a release tarball,
/// checked against a SHA-256 the recipe pins or a checksum file signed by a key it names.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSpec {
    /// What it is (`node`): its name in the SBOM (`pkg:generic/NAME@VERSION`) and in
    /// `--archive-mirror NAME=URL`.
    pub name: String,
    pub version: String,
    /// With `{mirror}`, `{version}` and `{arch}` (the Debian architecture, or its
    /// `arch_names` entry).
    pub url: String,
    /// Where `{mirror}` points unless `--archive-mirror` / `$DISTROLESS_ARCHIVE_MIRROR` says.
    pub mirror: Option<String>,
    /// The project's names for Debian architectures (`{ amd64 = "x64" }`).
    #[serde(default)]
    pub arch_names: BTreeMap<String, String>,
    /// SHA-256 per Debian architecture…
    #[serde(default)]
    pub sha256: BTreeMap<String, String>,
    /// …or a clear-signed checksum file (`SHASUMS256.txt.asc`; same placeholders) and the
    /// key (beside the recipe) it must be signed with.
    pub checksums_url: Option<String>,
    pub checksums_key: Option<String>,
    #[serde(default)]
    pub strip_components: usize,
    /// Paths (after stripping) to take, and to leave out (globs).
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where in the image (absolute).
    pub dest: String,
}

/// One archive as it went into the image (for the SBOM and the provenance).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveRecord {
    pub name: String,
    pub version: String,
    /// Where it was downloaded from (any password cut).
    pub url: String,
    pub sha256: String,
    pub dest: String,
}

/// A third-party apt repository a recipe takes packages from (`[[repositories]]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RepositorySpec {
    /// What it is (`adoptium`): its name in `--repository NAME=URL` and
    /// `--repository-key NAME=FILE`, which give (or replace) `url` and `key`.
    pub name: Option<String>,
    /// Its base URL (`https://…/deb`, or `file://…`).
    pub url: Option<String>,
    pub suites: Vec<String>,
    #[serde(default = "main_component")]
    pub components: Vec<String>,
    /// The OpenPGP key (armored or binary) its InRelease must be signed with, relative to the
    /// recipe: the only key trusted for it.
    pub key: Option<String>,
    /// Packages taken from this repository whatever version the others have.
    #[serde(default)]
    pub pin: Vec<String>,
}

fn main_component() -> Vec<String> {
    vec!["main".to_string()]
}

/// Package additions and exclusions that apply to one Debian release only.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReleasePart {
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Symlinks that a maintainer script would have made (`update-alternatives`, `python3`).
    /// Targets may use `{arch}` for the Debian architecture.
    #[serde(default)]
    pub symlinks: BTreeMap<String, String>,
}

/// A `[[copy]]` entry: local files into the image, one layer each.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CopySpec {
    /// A file or directory, relative to the recipe file.
    pub src: String,
    /// Absolute path in the image; a trailing `/` puts a file inside that directory.
    pub dest: String,
    /// `uid:gid`, `user:group`, `uid` or `user` (names from the image's passwd/group).
    pub owner: Option<String>,
    /// Octal mode for regular files, e.g. `"0755"`.
    pub mode: Option<String>,
    /// Glob patterns (relative to `src`) left out.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// An extra account.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub name: String,
    pub uid: u32,
    /// Primary group id (defaults to the uid).
    pub gid: Option<u32>,
    /// Home directory, created owned by the user (defaults to `/home/NAME`).
    pub home: Option<String>,
}

/// An extra group.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    pub gid: u32,
}

/// A container health check, written where Docker and Podman read it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// `["CMD", "/app", "--health"]` (or `["NONE"]`).
    pub test: Vec<String>,
    /// Durations such as `"30s"`, `"1m30s"`, `"500ms"`.
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub retries: Option<u32>,
}

/// One image recipe.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default = "default_name")]
    pub name: String,
    /// What the image starts from: a catalog image (`cc-debian13:nonroot`), `"auto"`, an OCI
    /// layout directory, or an oci-archive / docker-archive file.
    pub from: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub packages: Vec<String>,
    /// Declared dependencies deliberately not installed (in addition to the built-in list).
    #[serde(default)]
    pub exclude: Vec<String>,
    pub debian12: Option<ReleasePart>,
    pub debian13: Option<ReleasePart>,
    /// Debian releases this image exists for (all when absent).
    pub releases: Option<Vec<u32>>,
    #[serde(default)]
    pub symlinks: BTreeMap<String, String>,
    /// Packages of which only some paths are taken (`{ "libc-bin" = ["sbin/ldconfig"] }`),
    /// without their dependencies.
    #[serde(default)]
    pub partial: BTreeMap<String, Vec<String>>,
    /// Package files left out of the image (`{arch}` allowed), for parts that would need a
    /// deliberately excluded library (the JRE's sound and smart-card bridges).
    #[serde(default)]
    pub remove: Vec<String>,
    /// Generate `/etc/ssl/certs/java/cacerts` from the CA bundle.
    #[serde(default)]
    pub java_trust_store: bool,
    /// The language runtime, for annotations and a version variable.
    pub runtime: Option<Runtime>,
    /// Upstream archives unpacked into the image, each one layer.
    #[serde(default)]
    pub archives: Vec<ArchiveSpec>,
    /// Third-party apt repositories packages resolve from, beside Debian's archive.
    #[serde(default)]
    pub repositories: Vec<RepositorySpec>,
    /// Local `.deb` files (relative to the recipe, inside its build context; `{arch}` allowed)
    /// installed like archive packages, their dependencies resolved from the archive.
    #[serde(default)]
    pub debs: Vec<String>,
    /// Packages only `:debug` variants carry, in a tier of their own after the recipe's (the
    /// JDK in Java's debug images: javac, jcmd, jstack).
    #[serde(default)]
    pub debug_packages: Vec<String>,
    /// Like `remove`, for the files of `debug_packages`.
    #[serde(default)]
    pub debug_remove: Vec<String>,
    /// Like `symlinks`, made in the `:debug` tier (over the recipe's own: `/usr/bin/java`
    /// leading to the JDK's).
    #[serde(default)]
    pub debug_symlinks: BTreeMap<String, String>,
    /// Exec form: a list of words, or one string as a one-word list (`"/app"`).
    #[serde(default, deserialize_with = "words")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, deserialize_with = "words")]
    pub cmd: Option<Vec<String>>,
    /// Values are text; numbers and booleans (`PORT = 8080`, `DEBUG = true`) are taken as the
    /// text they are written as.
    #[serde(default, deserialize_with = "texts")]
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    /// User name or uid (`name`, `uid`, `name:group`, `uid:gid`); a name must be in passwd.
    pub user: Option<String>,
    #[serde(default, deserialize_with = "texts")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "texts")]
    pub annotations: BTreeMap<String, String>,
    /// `8080`, `8080/tcp`, `53/udp`.
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub copy: Vec<CopySpec>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// Extra CA certificates (PEM files, relative to the recipe), appended to the bundle and to
    /// the Java trust store when the image has one.
    #[serde(default)]
    pub ca_certificates: Vec<String>,
    /// Debian architectures (one index); `--arch` overrides.
    #[serde(default)]
    pub arches: Vec<String>,
    /// Tags (`org.opencontainers.image.ref.name`) of the result; default `latest`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Debian release for `from = "auto"` (default 13).
    pub debian: Option<u32>,
}

/// A list of words, or one string taken as a one-word list (exec form, never split on spaces).
fn words<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct Words;
    impl<'de> serde::de::Visitor<'de> for Words {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or a list of strings (exec form)")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(w) = seq.next_element::<String>()? {
                out.push(w);
            }
            Ok(out)
        }
    }
    d.deserialize_any(Words).map(Some)
}

/// A table of text values; numbers and booleans become the text TOML wrote them as.
fn texts<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct Text(String);
    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D2: serde::Deserializer<'de>>(d: D2) -> Result<Self, D2::Error> {
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = String;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a string, a number or a boolean")
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
                    Ok(v.to_string())
                }
                fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
                    Ok(v.to_string())
                }
                fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
                    Ok(v.to_string())
                }
                fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
                    Ok(v.to_string())
                }
                fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
                    Ok(v.to_string())
                }
            }
            d.deserialize_any(V).map(Text)
        }
    }
    let map = BTreeMap::<String, Text>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, Text(v))| (k, v)).collect())
}

fn default_name() -> String {
    "app".to_string()
}

impl Recipe {
    /// Parses a recipe; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{file}:{}", one_line(&e, text)))
    }

    fn part(&self, release: u32) -> Option<&ReleasePart> {
        match release {
            12 => self.debian12.as_ref(),
            13 => self.debian13.as_ref(),
            _ => None,
        }
    }

    /// Root packages of this recipe alone, for a Debian release.
    pub fn packages_for(&self, release: u32) -> Vec<String> {
        let mut out = self.packages.clone();
        if let Some(p) = self.part(release) {
            out.extend(p.packages.iter().cloned());
        }
        out
    }

    /// Symlinks of this recipe alone, for a Debian release and architecture.
    pub fn symlinks_for(&self, release: u32, arch: &str) -> BTreeMap<String, String> {
        let mut out = self.symlinks.clone();
        if let Some(p) = self.part(release) {
            out.extend(p.symlinks.clone());
        }
        for target in out.values_mut() {
            *target = target.replace("{arch}", arch);
        }
        out
    }

    /// Whether the image exists for a Debian release.
    pub fn supports(&self, release: u32) -> bool {
        self.releases.as_ref().is_none_or(|r| r.contains(&release))
    }

    /// Exclusions of this recipe alone, for a Debian release.
    pub fn excludes_for(&self, release: u32) -> Vec<String> {
        let mut out = self.exclude.clone();
        if let Some(p) = self.part(release) {
            out.extend(p.exclude.iter().cloned());
        }
        out
    }
}

/// Flattens a TOML error (which spans several lines with a caret) into `LINE: message`.
pub(crate) fn one_line(e: &toml::de::Error, text: &str) -> String {
    let msg = unknown_key(e.message()).unwrap_or_else(|| e.message().trim().replace('\n', " "));
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let key = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split('=').next())
                .map_or("", str::trim);
            if key.is_empty() || key.starts_with('[') {
                format!("{line}: {msg}")
            } else {
                format!("{line}: {key}: {msg}")
            }
        }
        None => format!(" {msg}"),
    }
}

/// The keys an application recipe has (the catalog's own keys are not suggested to it).
const APPLICATION_KEYS: &[&str] = &[
    "name",
    "from",
    "description",
    "packages",
    "exclude",
    "entrypoint",
    "cmd",
    "env",
    "workdir",
    "user",
    "labels",
    "annotations",
    "exposed_ports",
    "volumes",
    "stop_signal",
    "healthcheck",
    "copy",
    "users",
    "groups",
    "ca_certificates",
    "arches",
    "tags",
    "debian",
    "archives",
    "repositories",
    "debs",
];

/// serde's "unknown field `x`, expected one of …" told as "unknown key `x`", with the key it
/// is closest to: of the table's own keys, and for a recipe's top level of the application
/// keys only (not every key catalog recipes have).
fn unknown_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, expected) = rest.split_once('`')?;
    let listed: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let candidates: Vec<&str> = if listed.contains(&"java_trust_store") {
        APPLICATION_KEYS.to_vec()
    } else {
        listed
    };
    let closest = (candidates.iter())
        .map(|k| (strsim::levenshtein(key, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min();
    Some(match closest {
        Some((_, k)) => format!("unknown key `{key}` (did you mean `{k}`?)"),
        None => format!("unknown key `{key}`"),
    })
}

/// The 1-based line where `key = …` is set, optionally inside the `nth` `[[table]]`.
pub fn line_of(text: &str, table: Option<(&str, usize)>, key: &str) -> usize {
    let mut start = 0;
    if let Some((table, nth)) = table {
        let header = format!("[[{table}]]");
        let mut seen = 0;
        for (i, l) in text.lines().enumerate() {
            if l.trim() == header {
                if seen == nth {
                    start = i;
                    break;
                }
                seen += 1;
            }
        }
    }
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| {
            (l.trim_start().starts_with(key)
                && l.trim_start()[key.len()..].trim_start().starts_with('='))
                || l.trim() == format!("[{key}]")
        })
        .map_or(start + 1, |(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_told_with_the_closest_key_of_their_table() {
        let e = Recipe::parse("r.toml", "entrypiont = [\"/x\"]\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.toml:1: entrypiont: unknown key `entrypiont` (did you mean `entrypoint`?)"
        );
        // Not a catalog-only key for an application's typo.
        let e = Recipe::parse("r.toml", "java_trust = true\n").unwrap_err();
        assert!(!e.to_string().contains("java_trust_store"), "{e}");
        let e = Recipe::parse("r.toml", "[[copy]]\nsrc = \"a\"\ndset = \"/a\"\n").unwrap_err();
        assert!(e.to_string().contains("did you mean `dest`?"), "{e}");
    }

    #[test]
    fn a_string_is_a_one_word_command_and_numbers_are_text() {
        let r = Recipe::parse(
            "r.toml",
            "entrypoint = \"/app --serve\"\ncmd = \"serve\"\n[env]\nPORT = 8080\nDEBUG = true\nRATE = 0.5\nNAME = \"x\"\n[labels]\nversion = 2\n",
        )
        .unwrap();
        assert_eq!(r.entrypoint.unwrap(), ["/app --serve"]);
        assert_eq!(r.cmd.unwrap(), ["serve"]);
        assert_eq!(r.env["PORT"], "8080");
        assert_eq!(r.env["DEBUG"], "true");
        assert_eq!(r.env["RATE"], "0.5");
        assert_eq!(r.env["NAME"], "x");
        assert_eq!(r.labels["version"], "2");
        let e = Recipe::parse("r.toml", "[env]\nA = [1]\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("a string, a number or a boolean"),
            "{e:#}"
        );
        let e = Recipe::parse("r.toml", "entrypoint = 3\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("a string or a list of strings"),
            "{e:#}"
        );
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_file() {
        let err = Recipe::parse("x.toml", "name = \"a\"\npackagez = []\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("x.toml:2: packagez:"), "{text}");
    }

    #[test]
    fn release_parts_add_up() {
        let r = Recipe::parse(
            "r",
            "name = \"s\"\npackages = [\"a\"]\n[debian13]\npackages = [\"b\"]\nexclude = [\"c\"]\n",
        )
        .unwrap();
        assert_eq!(r.packages_for(13), ["a", "b"]);
        assert_eq!(r.packages_for(12), ["a"]);
        assert_eq!(r.excludes_for(13), ["c"]);
    }
}
