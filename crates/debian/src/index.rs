//! `Packages` indexes parsed into typed records.
//!
//! A suite's index is ~63,000 stanzas and ~50 MB of text; we keep only the dozen fields that
//! resolution and fetching need. The parser is written by hand because the deb822 subset used
//! by `Packages` is trivial (one `Field: value` per line, continuation lines start with a
//! space) and a generic deb822 crate would allocate a map per stanza for fields we discard.

use std::io::{BufRead, Read};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::version::{Op, Version};

/// One alternative of a dependency: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relation {
    pub name: String,
    /// `any`, `native` or an architecture, as written after `:`.
    pub arch: Option<String>,
    pub constraint: Option<(String, String)>,
}

impl Relation {
    /// The operator and version of the constraint, if any and well-formed.
    pub fn op_version(&self) -> Option<(Op, Version)> {
        let (op, ver) = self.constraint.as_ref()?;
        Some((Op::parse(op)?, Version::parse(ver)?))
    }
}

impl std::fmt::Display for Relation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(a) = &self.arch {
            write!(f, ":{a}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({op} {v})")?;
        }
        Ok(())
    }
}

/// A dependency: a list of alternatives of which one must hold.
pub type Dependency = Vec<Relation>;

/// One binary package from a `Packages` index.
///
/// `Depends` and `Pre-Depends` stay as text until the resolver visits the package: a suite has
/// 63,000 stanzas and an image needs a few dozen, so parsing every relation up front would cost
/// most of the memory and time of reading an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub multi_arch: Option<String>,
    /// The raw `Depends` field.
    pub depends: String,
    /// The raw `Pre-Depends` field.
    pub pre_depends: String,
    pub provides: Vec<Relation>,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub installed_size: u64,
    pub source: Option<String>,
    pub essential: bool,
    /// The suite this record came from (`trixie`, `trixie-security`, …).
    #[serde(default)]
    pub suite: String,
    /// Base URL of the mirror this record came from.
    #[serde(default)]
    pub mirror: String,
}

impl Package {
    /// `Pre-Depends` then `Depends`, parsed.
    pub fn dependencies(&self) -> Vec<Dependency> {
        let mut deps = parse_relations(&self.pre_depends);
        deps.extend(parse_relations(&self.depends));
        deps
    }
}

/// Parses a relation list such as `libc6 (>= 2.34), libgcc-s1 | libgcc1`.
pub fn parse_relations(text: &str) -> Vec<Dependency> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|dep| dep.split('|').filter_map(parse_relation).collect())
        .filter(|alts: &Dependency| !alts.is_empty())
        .collect()
}

fn parse_relation(text: &str) -> Option<Relation> {
    let text = text.trim();
    // Drop architecture restrictions `[amd64]` and build profiles `<!nocheck>` (source-only
    // syntax), which come after the version: only outside the parentheses, where `<<` and `<=`
    // are operators.
    let mut depth = 0usize;
    let end = text
        .char_indices()
        .find(|&(_, c)| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            depth == 0 && (c == '[' || c == '<')
        })
        .map_or(text.len(), |(i, _)| i);
    let text = text[..end].trim();
    let (head, constraint) = match text.split_once('(') {
        Some((head, rest)) => {
            let inner = rest.trim_end().trim_end_matches(')').trim();
            let split = inner
                .find(|c: char| !matches!(c, '<' | '>' | '='))
                .unwrap_or(inner.len());
            let (op, ver) = inner.split_at(split);
            (
                head.trim(),
                Some((op.trim().to_string(), ver.trim().to_string())),
            )
        }
        None => (text, None),
    };
    if head.is_empty() {
        return None;
    }
    let (name, arch) = match head.split_once(':') {
        Some((n, a)) => (n.to_string(), Some(a.to_string())),
        None => (head.to_string(), None),
    };
    Some(Relation {
        name,
        arch,
        constraint,
    })
}

/// Checks a relation field's syntax (`name[:arch] [(op version)]`, alternatives with `|`):
/// a relation [`parse_relations`] would read otherwise (an unknown operator, an unclosed
/// parenthesis) must not silently become an unsatisfiable or a missing constraint. The
/// offending relation is the error.
pub fn check_relations(text: &str) -> std::result::Result<(), String> {
    const OPERATORS: [&str; 7] = ["<<", "<=", "=", ">=", ">>", "<", ">"];
    for rel in text
        .split([',', '|'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let bad = || rel.chars().take(120).collect::<String>();
        let head = rel.split(['(', '[', '<']).next().unwrap_or("").trim();
        let name = head.split(':').next().unwrap_or("");
        // Debian asks for two characters at least; one is tolerated here (test indexes).
        let name_ok = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
        if !name_ok || head.contains(char::is_whitespace) {
            return Err(bad());
        }
        if let Some((_, rest)) = rel.split_once('(') {
            let Some((inner, _)) = rest.split_once(')') else {
                return Err(bad());
            };
            let inner = inner.trim();
            let split = inner
                .find(|c: char| !matches!(c, '<' | '>' | '='))
                .unwrap_or(inner.len());
            let (op, version) = inner.split_at(split);
            let version = version.trim();
            if !OPERATORS.contains(&op.trim())
                || version.is_empty()
                || version.contains(char::is_whitespace)
            {
                return Err(bad());
            }
        }
    }
    Ok(())
}

/// Debian's rule for package names: lower-case letters, digits, `+`, `-`, `.`, starting with
/// a letter or digit (so a name is never a path).
pub fn package_name_ok(name: &str) -> bool {
    name.len() >= 2
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        })
}

/// Parses a whole `Packages` text. `file` names it in errors.
pub fn parse_packages(file: &str, text: &str, suite: &str, mirror: &str) -> Result<Vec<Package>> {
    parse_packages_from(file, text.as_bytes(), suite, mirror)
}

/// Parses a `Packages` stream into a list.
pub fn parse_packages_from(
    file: &str,
    reader: impl BufRead,
    suite: &str,
    mirror: &str,
) -> Result<Vec<Package>> {
    let mut out = Vec::new();
    for_each_package(file, reader, suite, mirror, |p| out.push(p))?;
    Ok(out)
}

/// The largest package record (stanza) we read; Debian's largest are tens of KiB.
pub const MAX_STANZA: usize = 8 << 20;

/// Parses a `Packages` stream line by line, handing each package on; the whole text is never
/// held in memory, and a record over [`MAX_STANZA`] is an error, so a hostile index cannot
/// make us hold a gigabyte line.
pub fn for_each_package(
    file: &str,
    mut reader: impl BufRead,
    suite: &str,
    mirror: &str,
    mut each: impl FnMut(Package),
) -> Result<()> {
    let mut fields = Fields::default();
    let mut last: Option<&'static str> = None;
    let mut line = String::new();
    let mut lineno = 0usize;
    let mut stanza = 0usize;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_STANZA as u64 + 1)
            .read_line(&mut line)
            .map_err(|e| Error::Index {
                file: file.to_string(),
                reason: format!("line {}: {e}", lineno + 1),
            })?;
        lineno += 1;
        stanza += n;
        if stanza > MAX_STANZA {
            return Err(Error::Index {
                file: file.to_string(),
                reason: format!(
                    "line {lineno}: a package record exceeds the {MAX_STANZA}-byte limit"
                ),
            });
        }
        let l = line.trim_end_matches(['\n', '\r']);
        if n == 0 || l.is_empty() {
            if fields.any {
                each(std::mem::take(&mut fields).finish(file, lineno, suite, mirror)?);
            }
            last = None;
            stanza = 0;
            if n == 0 {
                break;
            }
            continue;
        }
        if l.starts_with(' ') || l.starts_with('\t') {
            if let Some(key) = last {
                fields.append(key, l.trim());
            }
            continue;
        }
        let Some((key, value)) = l.split_once(':') else {
            return Err(Error::Index {
                file: file.to_string(),
                reason: format!("line {lineno}: not a `Field: value` line"),
            });
        };
        if fields.seen_twice(key) {
            return Err(Error::Index {
                file: file.to_string(),
                reason: format!("line {lineno}: field `{key}` given twice in one record"),
            });
        }
        last = fields.set(key, value.trim());
        fields.any = true;
    }
    Ok(())
}

#[derive(Default)]
struct Fields {
    any: bool,
    /// The fields read so far, one bit each (of [`FIELDS`]).
    seen: u32,
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    multi_arch: Option<String>,
    depends: String,
    pre_depends: String,
    provides: String,
    filename: Option<String>,
    size: Option<String>,
    sha256: Option<String>,
    installed_size: Option<String>,
    source: Option<String>,
    essential: bool,
}

/// The fields we read: a record that gives one twice is refused, since which copy counts
/// would differ between readers (apt takes the first, a naive map the last).
const FIELDS: [&str; 14] = [
    "Package",
    "Version",
    "Architecture",
    "Multi-Arch",
    "Depends",
    "Pre-Depends",
    "Provides",
    "Filename",
    "Size",
    "SHA256",
    "Installed-Size",
    "Source",
    "Essential",
    "MD5sum",
];

impl Fields {
    /// Marks `key` as read; true when it already was.
    fn seen_twice(&mut self, key: &str) -> bool {
        let Some(i) = FIELDS.iter().position(|f| f.eq_ignore_ascii_case(key)) else {
            return false;
        };
        let bit = 1u32 << i;
        let twice = self.seen & bit != 0;
        self.seen |= bit;
        twice
    }

    fn set(&mut self, key: &str, value: &str) -> Option<&'static str> {
        let v = || Some(value.to_string());
        match key {
            "Package" => self.name = v(),
            "Version" => self.version = v(),
            "Architecture" => self.arch = v(),
            "Multi-Arch" => self.multi_arch = v(),
            "Depends" => {
                self.depends = value.to_string();
                return Some("Depends");
            }
            "Pre-Depends" => {
                self.pre_depends = value.to_string();
                return Some("Pre-Depends");
            }
            "Provides" => {
                self.provides = value.to_string();
                return Some("Provides");
            }
            "Filename" => self.filename = v(),
            "Size" => self.size = v(),
            "SHA256" => self.sha256 = v(),
            "Installed-Size" => self.installed_size = v(),
            "Source" => self.source = v(),
            "Essential" => self.essential = value == "yes",
            _ => {}
        }
        None
    }

    fn append(&mut self, key: &str, value: &str) {
        let target = match key {
            "Depends" => &mut self.depends,
            "Pre-Depends" => &mut self.pre_depends,
            "Provides" => &mut self.provides,
            _ => return,
        };
        target.push(' ');
        target.push_str(value);
    }

    fn finish(self, file: &str, lineno: usize, suite: &str, mirror: &str) -> Result<Package> {
        let missing = |what: &str| Error::Index {
            file: file.to_string(),
            reason: format!("stanza ending at line {lineno}: missing {what}"),
        };
        let name = self.name.ok_or_else(|| missing("Package"))?;
        let size = self
            .size
            .ok_or_else(|| missing("Size"))?
            .parse()
            .map_err(|_| missing("a numeric Size"))?;
        for (field, text) in [
            ("Depends", &self.depends),
            ("Pre-Depends", &self.pre_depends),
            ("Provides", &self.provides),
        ] {
            check_relations(text).map_err(|bad| Error::Index {
                file: file.to_string(),
                reason: format!(
                    "stanza ending at line {lineno}: {field}: {bad:?} is not a package relation"
                ),
            })?;
        }
        let sha256 = self.sha256.ok_or_else(|| missing("SHA256"))?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(missing("a valid SHA256"));
        }
        Ok(Package {
            name,
            version: self.version.ok_or_else(|| missing("Version"))?,
            architecture: self.arch.ok_or_else(|| missing("Architecture"))?,
            multi_arch: self.multi_arch,
            depends: self.depends,
            pre_depends: self.pre_depends,
            provides: parse_relations(&self.provides)
                .into_iter()
                .flatten()
                .collect(),
            filename: self.filename.ok_or_else(|| missing("Filename"))?,
            size,
            sha256: sha256.to_ascii_lowercase(),
            installed_size: self
                .installed_size
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            source: self.source,
            essential: self.essential,
            suite: suite.to_string(),
            mirror: mirror.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations() {
        let strict = parse_relations("python3:any (<< 3.12), libfoo (<= 2) [amd64] <!nocheck>");
        assert_eq!(strict[0][0].constraint, Some(("<<".into(), "3.12".into())));
        assert_eq!(strict[1][0].constraint, Some(("<=".into(), "2".into())));
        assert_eq!(strict[1][0].name, "libfoo");
        let deps = parse_relations("libc6 (>= 2.34), libgcc-s1 | libgcc1, python3:any (>= 3.11~)");
        assert_eq!(deps.len(), 3);
        assert_eq!(deps[0][0].constraint, Some((">=".into(), "2.34".into())));
        assert_eq!(deps[1].len(), 2);
        assert_eq!(deps[2][0].arch.as_deref(), Some("any"));
        assert_eq!(deps[2][0].to_string(), "python3:any (>= 3.11~)");
    }

    #[test]
    fn malformed_relations_and_repeated_fields_are_refused() {
        assert!(check_relations("libc6 (>= 2.34), a | b:any (<< 1~) [amd64] <!nocheck>").is_ok());
        assert!(check_relations("").is_ok());
        for bad in [
            "x (>>> 1)",
            "libx (>= 1",
            "libx (>= )",
            "lib x",
            "libx (~ 1)",
            "Libx",
        ] {
            assert!(check_relations(bad).is_err(), "{bad}");
        }
        let sha = "a".repeat(64);
        let record = |extra: &str| {
            format!(
                "Package: foo\nVersion: 1\nArchitecture: all\nFilename: f.deb\nSize: 1\nSHA256: {sha}\n{extra}"
            )
        };
        let e = parse_packages("P", &record("Package: bar\n"), "s", "m").unwrap_err();
        assert!(e.to_string().contains("field `Package` given twice"), "{e}");
        let e = parse_packages("P", &record("Depends: x (>>> 1)\n"), "s", "m").unwrap_err();
        assert!(e.to_string().contains("is not a package relation"), "{e}");
        assert_eq!(
            parse_packages("P", &record("Depends: x (>> 1)\n"), "s", "m")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn stanzas() {
        let sha = "a".repeat(64);
        let text = format!(
            "Package: a\nVersion: 1.0\nArchitecture: amd64\nDepends: b,\n c\nFilename: pool/a.deb\n\
             Size: 10\nSHA256: {sha}\nDescription: x\n more\n\nPackage: b\nVersion: 2\n\
             Architecture: all\nFilename: pool/b.deb\nSize: 3\nSHA256: {sha}\n"
        );
        let pkgs = parse_packages("Packages", &text, "s", "m").unwrap();
        assert_eq!(pkgs.len(), 2);
        assert_eq!(pkgs[0].dependencies().len(), 2);
        assert_eq!(pkgs[1].architecture, "all");
    }

    #[test]
    fn missing_hash_names_file() {
        let text = "Package: a\nVersion: 1\nArchitecture: all\nFilename: f\nSize: 1\n";
        let err = parse_packages("main/Packages", text, "s", "m").unwrap_err();
        assert!(err.to_string().contains("main/Packages"), "{err}");
    }
}

#[cfg(test)]
mod cap_tests {
    use super::*;

    #[test]
    fn a_huge_record_is_refused_without_reading_it_whole() {
        let mut text = String::from("Package: p\nDescription: x\n");
        text.push(' ');
        text.push_str(&"y".repeat(MAX_STANZA + 10));
        text.push('\n');
        let e = parse_packages("P", &text, "s", "file:///m/")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exceeds the 8388608-byte limit"), "{e}");
    }
}
