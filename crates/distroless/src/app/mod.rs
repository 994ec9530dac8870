//! Application images: a recipe's `copy`, `users`, `groups`, `ca_certificates` and runtime
//! settings on top of a base (a catalog image, `auto`, or an image on disk).
//!
//! Everything a recipe names is checked before anything is downloaded: copied paths must
//! exist, owners and the user must be in the image's accounts, modes must be octal. Errors
//! name the recipe file, the line and the key. This module prepares what an application adds;
//! the layers and the config it becomes are written by the build.

pub mod accounts;
pub mod archives;
pub mod auto;
pub mod copy;
pub mod local;
pub mod machine;
pub mod overrides;
pub mod prepare;
pub mod settings;
pub mod upstream;

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::model::recipe::{Recipe, line_of};
use crate::model::{Base, Catalog, DebianRelease, DiskImage, ImageRef};

pub use accounts::Accounts;
pub use prepare::{AppPrepared, app_units, prepare_app, prepare_app_with};

/// A recipe with where it came from, for relative paths and error locations.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub recipe: Recipe,
    /// Shown in errors: the recipe file, or `command line`.
    pub file: String,
    pub text: String,
    /// Relative `src` and certificate paths start here.
    pub dir: PathBuf,
    /// The build context: every file the recipe names must resolve inside it (the recipe's
    /// directory unless chosen otherwise), as `docker build` confines a Dockerfile.
    pub context: PathBuf,
}

#[cfg(test)]
impl AppSpec {
    /// A recipe from text, as if read from `dir/r.toml`, with `dir` as its build context.
    pub(crate) fn for_test(text: &str, dir: &Path) -> AppSpec {
        AppSpec {
            recipe: Recipe::parse("r.toml", text).expect("test recipe"),
            file: "r.toml".into(),
            text: text.into(),
            dir: dir.to_path_buf(),
            context: fs_err::canonicalize(dir).expect("test directory"),
        }
    }
}

/// How a catalog recipe is named in errors about its sources (`catalog image nodejs24: …`):
/// its file is embedded, not one the user has.
pub const CATALOG_PREFIX: &str = "catalog image ";

/// The largest recipe file we read.
const MAX_RECIPE: u64 = 1 << 20;

impl AppSpec {
    /// An error located at `key` (inside the `nth` `[[table]]` if given).
    pub fn error(
        &self,
        table: Option<(&str, usize)>,
        key: &str,
        message: impl std::fmt::Display,
    ) -> anyhow::Error {
        if self.text.is_empty() {
            return anyhow::anyhow!("{}: {key}: {message}", self.file);
        }
        let line = line_of(&self.text, table, key);
        let shown = match table {
            Some((t, n)) => format!("{t}[{n}].{key}"),
            None => key.to_string(),
        };
        anyhow::anyhow!("{}:{line}: {shown}: {message}", self.file)
    }

    /// The base image of the recipe.
    pub fn base(&self, catalog: &Catalog) -> anyhow::Result<Base> {
        let from = self.recipe.from.as_deref().unwrap_or("static");
        if registry::reference::carries_userinfo(from) {
            // Never echoed: it may hold a password.
            return Err(self.error(
                None,
                "from",
                "user:password@ in an image reference is not supported (not shown); use `distroless login`",
            ));
        }
        if DiskImage::is_named_by(from, &self.dir, catalog) {
            let disk = DiskImage::parse(from, &self.dir);
            // An image on disk is a file the recipe reads: it must be inside the build context.
            let rel = match &disk.tag {
                Some(t) => from.strip_suffix(&format!(":{t}")).unwrap_or(from),
                None => from,
            };
            self.source(None, "from", rel)?;
            return Ok(Base::Disk(disk));
        }
        if let Some(suffix) = from.strip_prefix("auto") {
            return self.auto_release(suffix).map(Base::Auto);
        }
        let image = ImageRef::parse(from, catalog).map_err(|e| self.error(None, "from", e))?;
        match self.recipe.debian {
            // `debian = N` picks the release of a catalog name without a suffix…
            Some(n) if n != image.release.number && !from.contains("-debian") => {
                let (name, tag) = from
                    .split_once(':')
                    .map_or((from, None), |(n, t)| (n, Some(t)));
                let pinned = format!(
                    "{name}-debian{n}{}",
                    tag.map(|t| format!(":{t}")).unwrap_or_default()
                );
                ImageRef::parse(&pinned, catalog)
                    .map(Base::Catalog)
                    .map_err(|e| self.error(None, "debian", e))
            }
            // …and must agree with one that has it.
            Some(n) if n != image.release.number => Err(self.error(
                None,
                "debian",
                format!("{n} disagrees with from = {from:?}"),
            )),
            _ => Ok(Base::Catalog(image)),
        }
    }
}

impl AppSpec {
    /// The Debian release of `from = "auto"` (`debian = N`, default 13) or `"auto-debianN"`
    /// (`suffix` is what follows `auto`); the two must agree.
    fn auto_release(&self, suffix: &str) -> anyhow::Result<DebianRelease> {
        let named = match suffix {
            "" => None,
            s => Some(
                s.strip_prefix("-debian")
                    .and_then(|n| n.parse::<u32>().ok())
                    .ok_or_else(|| {
                        self.error(
                            None,
                            "from",
                            format!(
                                "{} is not auto or auto-debianN",
                                oci::digest::shown(&format!("auto{s}"))
                            ),
                        )
                    })?,
            ),
        };
        let n = match (named, self.recipe.debian) {
            (Some(a), Some(b)) if a != b => {
                return Err(self.error(
                    None,
                    "debian",
                    format!("{b} disagrees with from = \"auto-debian{a}\""),
                ));
            }
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => 13,
        };
        DebianRelease::from_number(n).map_err(|e| self.error(None, "debian", e))
    }
}

/// The recipe `build` and `lock` read when given neither an image nor a file (as `docker
/// build` reads ./Dockerfile).
pub const DEFAULT_RECIPE: &str = "distroless.toml";

/// The recipe file a command reads: the one given, else `./distroless.toml` when `fallback`
/// allows it (nothing else was named) and it is there.
pub fn recipe_file(given: Option<&Path>, fallback: bool) -> Option<PathBuf> {
    given.map(Path::to_path_buf).or_else(|| {
        (fallback && Path::new(DEFAULT_RECIPE).is_file()).then(|| PathBuf::from(DEFAULT_RECIPE))
    })
}

/// Reads a recipe file; its build context is `context`, or the recipe's directory.
pub fn load(path: &Path, context: Option<&Path>) -> anyhow::Result<AppSpec> {
    let bytes = read_regular(path, MAX_RECIPE)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))?;
    let file = path.display().to_string();
    let recipe = Recipe::parse(&file, &text)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let context = context.unwrap_or(&dir);
    Ok(AppSpec {
        recipe,
        file,
        text,
        context: canonical_context(context)?,
        dir,
    })
}

/// A recipe given as flags only: paths are relative to the current directory, which is its
/// build context unless chosen otherwise.
pub fn inline(context: Option<&Path>) -> anyhow::Result<AppSpec> {
    Ok(AppSpec {
        recipe: Recipe::parse("command line", "")?,
        file: "command line".into(),
        text: String::new(),
        dir: PathBuf::from("."),
        context: canonical_context(context.unwrap_or(Path::new(".")))?,
    })
}

fn canonical_context(dir: &Path) -> anyhow::Result<PathBuf> {
    let real = fs_err::canonicalize(dir)
        .map_err(|_| anyhow::anyhow!("build context {}: no such directory", dir.display()))?;
    anyhow::ensure!(
        real.is_dir(),
        "build context {}: not a directory",
        dir.display()
    );
    Ok(real)
}

pub use crate::files::read_regular;

impl AppSpec {
    /// Checks that `name` is a name (an image repository name: lowercase letters, digits and
    /// `.`, `_`, `-` between them, components separated by `/`), never a path to write to.
    pub fn check_name(&self) -> anyhow::Result<()> {
        let name = &self.recipe.name;
        if !crate::model::image_name_ok(name) {
            return Err(self.error(
                None,
                "name",
                format!(
                    "{} is not an image name (lowercase letters, digits, `.`, `_`, `-`; components separated by `/`)",
                    oci::digest::shown(name)
                ),
            ));
        }
        Ok(())
    }

    /// Checks that every tag is a tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, the distribution
    /// spec's rule), so it can become a ref name and a `RepoTags` entry as it is.
    pub fn check_tags(&self) -> anyhow::Result<()> {
        for t in &self.recipe.tags {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                return Err(self.error(
                    None,
                    "tags",
                    format!(
                        "{} is not a tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)",
                        oci::digest::shown(t)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The default output of the image: the last component of its name, in the current
    /// directory.
    pub fn output_name(&self) -> &str {
        self.recipe.name.rsplit('/').next().unwrap_or("image")
    }

    /// The output when none is given. A recipe made of flags alone without `--name` is named
    /// after its entrypoint's file (`/srv/server` → `./server`), not `app`; and a path that
    /// exists and is not an image (the program `./app` itself) is never taken: `NAME-image`.
    pub fn default_output(&self, named: bool) -> PathBuf {
        let from_entrypoint = (self.text.is_empty() && !named)
            .then(|| self.recipe.entrypoint.as_ref()?.first()?.rsplit('/').next())
            .flatten()
            .filter(|n| !n.is_empty() && !n.starts_with('.'));
        let name = from_entrypoint.unwrap_or_else(|| self.output_name());
        let path = PathBuf::from(name);
        let taken = |p: &Path| p.exists() && !oci::layout::is_layout(p);
        if taken(&path) {
            PathBuf::from(format!("{name}-image"))
        } else {
            path
        }
    }

    /// A path the recipe names (at `table`/`key` for errors), resolved against the recipe's
    /// directory and checked to stay inside the build context: every directory on the way is
    /// followed and must end inside; a final symlink must point inside too. Returns the path
    /// as named (its last component not followed).
    pub fn source(
        &self,
        table: Option<(&str, usize)>,
        key: &str,
        rel: &str,
    ) -> anyhow::Result<PathBuf> {
        let named = self.dir.join(rel);
        // Shown as written when the recipe's directory is the current one (not `./../x`), and
        // without `.` components (`sub/x.tar`, not `./sub/./x.tar`).
        let shown = if self.dir == Path::new(".") {
            PathBuf::from(rel)
        } else {
            named
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect()
        };
        let missing = || self.error(table, key, format!("{} does not exist", shown.display()));
        let meta = fs_err::symlink_metadata(&named).map_err(|_| missing())?;
        let outside = || {
            self.error(
                table,
                key,
                format!(
                    "{} is outside the build context {} (choose another with --context)",
                    shown.display(),
                    self.context.display()
                ),
            )
        };
        // Where the name really leads: its directories followed, and a final symlink too.
        let target = match named.file_name() {
            Some(name) if !meta.file_type().is_symlink() => {
                let parent = named
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                fs_err::canonicalize(parent)
                    .map_err(|_| missing())?
                    .join(name)
            }
            _ => fs_err::canonicalize(&named).map_err(|_| {
                self.error(table, key, format!("{} leads nowhere", shown.display()))
            })?,
        };
        if !target.starts_with(&self.context) {
            return Err(outside());
        }
        Ok(named)
    }
}

/// Fails when an application recipe uses catalog-only keys.
pub fn check_keys(spec: &AppSpec) -> anyhow::Result<()> {
    let r = &spec.recipe;
    if r.java_trust_store
        || !r.partial.is_empty()
        || !r.remove.is_empty()
        || !r.debug_remove.is_empty()
        || !r.debug_symlinks.is_empty()
        || r.releases.is_some()
    {
        bail!(
            "{}: java_trust_store, partial, remove, debug_remove, debug_symlinks and releases are for catalog recipes only",
            spec.file
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_names_its_release_either_way() {
        let base = |text: &str| {
            AppSpec::for_test(text, Path::new("."))
                .base(&Catalog::embedded().unwrap())
                .map(|b| match b {
                    Base::Auto(r) => r.number,
                    _ => 0,
                })
        };
        assert_eq!(base("from = \"auto\"\n").unwrap(), 13);
        assert_eq!(base("from = \"auto\"\ndebian = 12\n").unwrap(), 12);
        assert_eq!(base("from = \"auto-debian12\"\n").unwrap(), 12);
        assert_eq!(base("from = \"auto-debian12\"\ndebian = 12\n").unwrap(), 12);
        let e = base("from = \"auto-debian12\"\ndebian = 13\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("disagrees"), "{e}");
        assert!(base("from = \"auto-debian9\"\n").is_err());
        let catalog_release = |text: &str| {
            AppSpec::for_test(text, Path::new("."))
                .base(&Catalog::embedded().unwrap())
                .map(|b| match b {
                    Base::Catalog(r) => r.release.number,
                    _ => 0,
                })
        };
        assert_eq!(
            catalog_release("from = \"cc:nonroot\"\ndebian = 12\n").unwrap(),
            12
        );
        assert!(catalog_release("from = \"cc-debian13\"\ndebian = 12\n").is_err());
        assert!(base("from = \"autox\"\n").is_err());
    }

    #[test]
    fn catalog_only_keys_are_refused() {
        let spec = AppSpec::for_test("java_trust_store = true\n", Path::new("."));
        assert!(
            check_keys(&spec)
                .unwrap_err()
                .to_string()
                .contains("catalog recipes only")
        );
    }

    #[test]
    fn names_are_names_not_paths() {
        let spec = |name: &str| AppSpec::for_test(&format!("name = {name:?}\n"), Path::new("."));
        for good in ["shop", "team/shop", "a.b_c-d", "x9"] {
            spec(good).check_name().unwrap();
        }
        for bad in [
            "../x",
            "/abs",
            "",
            "Shop",
            "a//b",
            "a b",
            "-x",
            "x\nerror: y",
            "a/..",
        ] {
            assert!(spec(bad).check_name().is_err(), "{bad:?}");
        }
        assert_eq!(spec("team/shop").output_name(), "shop");
    }

    #[test]
    fn sources_stay_inside_the_build_context() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        fs_err::create_dir_all(ctx.join("sub")).unwrap();
        fs_err::write(ctx.join("sub/app"), b"x").unwrap();
        fs_err::write(tmp.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(tmp.path(), ctx.join("up")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), ctx.join("link")).unwrap();
        std::os::unix::fs::symlink("sub/app", ctx.join("inside")).unwrap();
        let spec = AppSpec::for_test("", &ctx);
        assert!(spec.source(None, "src", "sub/app").is_ok());
        assert!(spec.source(None, "src", "sub").is_ok());
        assert!(spec.source(None, "src", ".").is_ok());
        assert!(spec.source(None, "src", "inside").is_ok());
        for bad in [
            "../secret",
            "/etc/passwd",
            "up/secret",
            "link",
            "sub/../../secret",
            "..",
        ] {
            let e = spec.source(None, "src", bad).unwrap_err().to_string();
            assert!(e.contains("outside the build context"), "{bad}: {e}");
        }
        assert!(
            spec.source(None, "src", "nope")
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = "name = \"a\"\n[[copy]]\nsrc = \"x\"\ndest = \"/x\"\n";
        let spec = AppSpec::for_test(text, Path::new("."));
        let e = spec.error(Some(("copy", 0)), "src", "missing");
        assert_eq!(e.to_string(), "r.toml:3: copy[0].src: missing");
    }
}
