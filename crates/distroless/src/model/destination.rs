//! Where a built image goes: an OCI layout directory, an oci-archive or a docker-archive (and,
//! next, a registry).

use std::path::{Path, PathBuf};

use anyhow::bail;

/// The output of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A directory holding an OCI image layout.
    Layout(PathBuf),
    /// A tar file of an OCI image layout.
    OciArchive(PathBuf),
    /// A tar file `docker load` and `podman load` read (one architecture).
    DockerArchive(PathBuf),
}

/// The format an output is asked for in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// An OCI layout directory, or an oci-archive when the path ends in `.tar`.
    #[default]
    Oci,
    /// A docker-archive.
    Docker,
}

impl Destination {
    /// The destination a path names in a format: for OCI, `*.tar` is an oci-archive and
    /// anything else a layout.
    pub fn from_path(path: PathBuf, format: Format) -> Self {
        match format {
            Format::Docker => Destination::DockerArchive(path),
            Format::Oci if path.extension().is_some_and(|e| e == "tar") => {
                Destination::OciArchive(path)
            }
            Format::Oci => Destination::Layout(path),
        }
    }

    /// The path written.
    pub fn path(&self) -> &Path {
        match self {
            Destination::Layout(p) | Destination::OciArchive(p) | Destination::DockerArchive(p) => {
                p
            }
        }
    }

    /// The format's name as the summary shows it.
    /// The `org.opencontainers.image.ref.name` of each tag: the tag in a layout directory (as
    /// `skopeo`'s `oci:DIR:TAG` and `umoci` name them), `NAME:TAG` in an oci-archive, which
    /// `podman load` takes as the image's name.
    pub fn ref_names(&self, name: &str, tags: &[String]) -> Vec<String> {
        match self {
            Destination::OciArchive(_) => tags.iter().map(|t| format!("{name}:{t}")).collect(),
            _ => tags.to_vec(),
        }
    }

    /// The existing layout whose other tags a build keeps (a layout destination that exists,
    /// unless `replace`).
    pub fn kept(&self, replace: bool) -> Option<&Path> {
        match self {
            Destination::Layout(p) if !replace && fs_err::symlink_metadata(p).is_ok() => Some(p),
            _ => None,
        }
    }

    pub fn format(&self) -> &'static str {
        match self {
            Destination::Layout(_) => "oci",
            Destination::OciArchive(_) => "oci-archive",
            Destination::DockerArchive(_) => "docker-archive",
        }
    }

    /// Refuses early, before any download, an output that could not be replaced safely.
    pub fn check(&self) -> anyhow::Result<()> {
        let out = self.path();
        let shown = out.to_string_lossy();
        if [".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".gz"]
            .iter()
            .any(|ext| shown.ends_with(ext))
        {
            bail!(
                "{shown}: compressed archives are not written (layers are compressed already); end the name in .tar"
            );
        }
        let Ok(meta) = fs_err::symlink_metadata(out) else {
            return Ok(());
        };
        match self {
            Destination::OciArchive(_) | Destination::DockerArchive(_) => {
                if meta.is_dir() {
                    bail!(
                        "{}: is a directory; a {} output is a file",
                        out.display(),
                        self.format()
                    );
                }
                if !meta.is_file() {
                    bail!(
                        "{}: exists and is not a regular file; refusing to replace it",
                        out.display()
                    );
                }
                if meta.len() > 0 && !is_tar(out)? {
                    bail!(
                        "{}: exists and is not a tar archive; refusing to overwrite it",
                        out.display()
                    );
                }
            }
            Destination::Layout(_) => {
                if !meta.is_dir() {
                    bail!(
                        "{}: exists and is not a directory (an OCI layout output is a directory; end the name in .tar for an oci-archive)",
                        out.display()
                    );
                }
                if !oci::layout::is_layout(out) && fs_err::read_dir(out)?.next().is_some() {
                    bail!(
                        "{}: exists, is not empty and is not an OCI layout; refusing to replace it",
                        out.display()
                    );
                }
                let foreign: Vec<String> = fs_err::read_dir(out)?
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| !matches!(n.as_str(), "oci-layout" | "index.json" | "blobs"))
                    .collect();
                if let Some(first) = foreign.first().cloned().or_else(|| stray_blob(out)) {
                    bail!(
                        "{}: holds {first:?} besides the OCI layout; refusing to replace it",
                        out.display()
                    );
                }
            }
        }
        Ok(())
    }

    /// Where the build's provenance statement is written: `OUT.provenance.json`.
    pub fn provenance_path(&self) -> PathBuf {
        provenance_path(self.path())
    }

    /// Where an SBOM of this output lands: `OUT.spdx.json`, or `OUT.ARCH.spdx.json` when the
    /// image has several architectures.
    pub fn sbom_path(&self, arch: &str, kind: &str, multi: bool) -> PathBuf {
        let base = self.path().to_string_lossy();
        let base = base
            .strip_suffix(".tar")
            .unwrap_or(&base)
            .trim_end_matches('/');
        if multi {
            PathBuf::from(format!("{base}.{arch}.{kind}"))
        } else {
            PathBuf::from(format!("{base}.{kind}"))
        }
    }
}

/// The file name suffix of a build's provenance statement beside its output.
pub const PROVENANCE_SUFFIX: &str = "provenance.json";

/// The provenance file of a build output (`OUT.provenance.json`), or the file itself.
pub fn provenance_path(output: &Path) -> PathBuf {
    let text = output.to_string_lossy();
    if text.ends_with(PROVENANCE_SUFFIX) {
        return output.to_path_buf();
    }
    let base = text
        .strip_suffix(".tar")
        .unwrap_or(&text)
        .trim_end_matches('/');
    PathBuf::from(format!("{base}.{PROVENANCE_SUFFIX}"))
}

/// The first thing under `blobs/` that a layout does not hold: anything but `<algorithm>/<hex>`
/// regular files.
fn stray_blob(layout: &Path) -> Option<String> {
    let blobs = layout.join("blobs");
    for alg in fs_err::read_dir(&blobs).ok()?.filter_map(Result::ok) {
        let name = alg.file_name().to_string_lossy().to_string();
        let len = match name.as_str() {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Some(format!("blobs/{name}")),
        };
        if !alg.path().is_dir() {
            return Some(format!("blobs/{name}"));
        }
        for b in fs_err::read_dir(alg.path()).ok()?.filter_map(Result::ok) {
            let file = b.file_name().to_string_lossy().to_string();
            let hex = file.len() == len && file.bytes().all(|c| c.is_ascii_hexdigit());
            if !hex || !b.file_type().is_ok_and(|t| t.is_file()) {
                return Some(format!("blobs/{name}/{file}"));
            }
        }
    }
    None
}

/// Whether a file starts like a tar archive (`ustar` magic in its first header).
fn is_tar(path: &Path) -> anyhow::Result<bool> {
    use std::io::Read as _;
    let mut head = [0u8; 512];
    let n = fs_err::File::open(path)?.read(&mut head)?;
    Ok(n == 512 && &head[257..262] == b"ustar")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_sbom_paths() {
        let d = Destination::from_path("out/cc.tar".into(), Format::Oci);
        assert_eq!(d.format(), "oci-archive");
        assert_eq!(
            d.sbom_path("amd64", "spdx.json", false),
            Path::new("out/cc.spdx.json")
        );
        let d = Destination::from_path("cc/".into(), Format::Oci);
        assert_eq!(d.format(), "oci");
        assert_eq!(
            d.sbom_path("arm64", "cdx.json", true),
            Path::new("cc.arm64.cdx.json")
        );
        assert_eq!(
            Destination::from_path("x".into(), Format::Docker).format(),
            "docker-archive"
        );
    }

    #[test]
    fn refuses_what_it_cannot_replace() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs_err::write(&file, b"x").unwrap();
        assert!(Destination::Layout(file).check().is_err());
        fs_err::write(dir.path().join("mine"), b"x").unwrap();
        assert!(
            Destination::Layout(dir.path().to_path_buf())
                .check()
                .is_err()
        );
        assert!(
            Destination::OciArchive(dir.path().to_path_buf())
                .check()
                .is_err()
        );
        assert!(Destination::Layout(dir.path().join("new")).check().is_ok());
        let e = Destination::from_path(dir.path().join("x.tar.gz"), Format::Oci).check();
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("compressed archives are not written")
        );
        // A layout that holds the user's own files is not replaced.
        let l = dir.path().join("l");
        fs_err::create_dir_all(l.join("blobs")).unwrap();
        fs_err::write(l.join("oci-layout"), b"{}").unwrap();
        fs_err::write(l.join("index.json"), b"{}").unwrap();
        assert!(Destination::Layout(l.clone()).check().is_ok());
        fs_err::write(l.join("notes.txt"), b"mine").unwrap();
        let e = Destination::Layout(l).check().unwrap_err().to_string();
        assert!(e.contains("\"notes.txt\" besides the OCI layout"), "{e}");
        fs_err::remove_file(dir.path().join("l/notes.txt")).unwrap();
        fs_err::create_dir_all(dir.path().join("l/blobs/sha256")).unwrap();
        fs_err::write(dir.path().join("l/blobs/sha256/mynotes"), b"mine").unwrap();
        let e = Destination::Layout(dir.path().join("l"))
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("blobs/sha256/mynotes"), "{e}");
        // A .tar that is not a tar archive is not overwritten.
        let t = dir.path().join("x.tar");
        fs_err::write(&t, b"precious").unwrap();
        assert!(Destination::OciArchive(t).check().is_err());
    }
}
