//! Builds real `.deb` files (ar + control.tar.gz + data.tar.xz), including hostile ones.

use std::io::Write;

use md5::{Digest, Md5};

/// One entry of a package's data.tar.
#[derive(Debug, Clone)]
pub enum DebEntry {
    Dir(String, u32),
    File(String, Vec<u8>, u32),
    Symlink(String, String),
    Hardlink(String, String),
    /// A raw path written as-is into the header (for `..` and absolute-path attacks).
    RawFile(String, Vec<u8>),
}

/// A package under construction.
#[derive(Debug, Clone)]
pub struct DebBuilder {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub fields: Vec<(String, String)>,
    pub entries: Vec<DebEntry>,
}

impl DebBuilder {
    /// A package with no files.
    pub fn new(name: &str, version: &str, arch: &str) -> Self {
        DebBuilder {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            fields: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Adds a control field (`Depends`, `Provides`, …).
    #[must_use]
    pub fn field(mut self, key: &str, value: &str) -> Self {
        self.fields.push((key.into(), value.into()));
        self
    }

    /// Adds a regular file with mode 0644 (parents are added as directories).
    #[must_use]
    pub fn file(self, path: &str, content: &[u8]) -> Self {
        self.file_mode(path, content, 0o644)
    }

    /// Adds a regular file with a mode.
    #[must_use]
    pub fn file_mode(mut self, path: &str, content: &[u8], mode: u32) -> Self {
        self.entries
            .push(DebEntry::File(path.into(), content.to_vec(), mode));
        self
    }

    /// Adds any entry.
    #[must_use]
    pub fn entry(mut self, e: DebEntry) -> Self {
        self.entries.push(e);
        self
    }

    /// The control stanza as it appears in the package.
    pub fn control(&self) -> String {
        let mut c = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Test <test@example.invalid>\n",
            self.name, self.version, self.arch
        );
        for (k, v) in &self.fields {
            c.push_str(&format!("{k}: {v}\n"));
        }
        c.push_str(&format!("Description: test package {}\n", self.name));
        c
    }

    fn data_tar(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dirs = std::collections::BTreeSet::new();
        let mut add_parents = |b: &mut tar::Builder<Vec<u8>>, path: &str| {
            let mut acc = String::from(".");
            let parts: Vec<&str> = path.trim_start_matches("./").split('/').collect();
            for p in &parts[..parts.len().saturating_sub(1)] {
                acc.push('/');
                acc.push_str(p);
                if dirs.insert(acc.clone()) {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{acc}/"), std::io::empty())
                        .unwrap();
                }
            }
        };
        for e in &self.entries {
            match e {
                DebEntry::Dir(p, mode) => {
                    add_parents(&mut b, p);
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_size(0);
                    b.append_data(&mut h, format!("./{p}/"), std::io::empty())
                        .unwrap();
                }
                DebEntry::File(p, data, mode) => {
                    add_parents(&mut b, p);
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, format!("./{p}"), data.as_slice())
                        .unwrap();
                }
                DebEntry::Symlink(p, t) => {
                    add_parents(&mut b, p);
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, format!("./{p}"), t).unwrap();
                }
                DebEntry::Hardlink(p, t) => {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_mode(0o644);
                    h.set_size(0);
                    b.append_link(&mut h, format!("./{p}"), format!("./{t}"))
                        .unwrap();
                }
                DebEntry::RawFile(p, data) if p.len() >= 100 => {
                    // Too long for a raw header: a GNU long-name entry (the tar crate checks
                    // only for `..` and absolute paths, which long names need not have).
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, p, data.as_slice()).unwrap();
                }
                DebEntry::RawFile(p, data) => {
                    let mut h = tar::Header::new_old();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(data.len() as u64);
                    let name = &mut h.as_old_mut().name;
                    name[..p.len()].copy_from_slice(p.as_bytes());
                    h.set_cksum();
                    b.append(&h, data.as_slice()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn md5sums(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            if let DebEntry::File(p, data, _) = e {
                out.push_str(&format!("{}  {p}\n", hex::encode(Md5::digest(data))));
            }
        }
        out
    }

    /// The `.deb` bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut control_tar = tar::Builder::new(Vec::new());
        for (name, body) in [("./control", self.control()), ("./md5sums", self.md5sums())] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(body.len() as u64);
            control_tar
                .append_data(&mut h, name, body.as_bytes())
                .unwrap();
        }
        let control_tar = control_tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&control_tar).unwrap();
        let control_gz = gz.finish().unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&self.data_tar()).unwrap();
        let data_xz = xz.finish().unwrap();
        let mut ar = ar::Builder::new(Vec::new());
        for (name, body) in [
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", control_gz),
            ("data.tar.xz", data_xz),
        ] {
            let h = ar::Header::new(name.as_bytes().to_vec(), body.len() as u64);
            ar.append(&h, body.as_slice()).unwrap();
        }
        ar.into_inner().unwrap()
    }
}
