//! Licenses from Debian's machine-readable copyright files (DEP-5), as SPDX expressions.
//!
//! Only files that declare the DEP-5 format are read; their `License:` short names are mapped
//! to SPDX identifiers where Debian's names have an exact SPDX equivalent, and to
//! `LicenseRef-…` otherwise. A package without a machine-readable file gets no license
//! (NOASSERTION in the SBOM): guessing from prose would be worse than saying nothing.

use std::collections::BTreeSet;

/// Debian short license names with an exact SPDX identifier.
const SPDX_NAMES: &[(&str, &str)] = &[
    ("GPL-1", "GPL-1.0-only"),
    ("GPL-1+", "GPL-1.0-or-later"),
    ("GPL-2", "GPL-2.0-only"),
    ("GPL-2+", "GPL-2.0-or-later"),
    ("GPL-3", "GPL-3.0-only"),
    ("GPL-3+", "GPL-3.0-or-later"),
    ("LGPL-2", "LGPL-2.0-only"),
    ("LGPL-2+", "LGPL-2.0-or-later"),
    ("LGPL-2.1", "LGPL-2.1-only"),
    ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("LGPL-3", "LGPL-3.0-only"),
    ("LGPL-3+", "LGPL-3.0-or-later"),
    ("AGPL-3", "AGPL-3.0-only"),
    ("AGPL-3+", "AGPL-3.0-or-later"),
    ("GFDL-1.2", "GFDL-1.2-only"),
    ("GFDL-1.2+", "GFDL-1.2-or-later"),
    ("GFDL-1.3", "GFDL-1.3-only"),
    ("GFDL-1.3+", "GFDL-1.3-or-later"),
    ("BSD-2-clause", "BSD-2-Clause"),
    ("BSD-3-clause", "BSD-3-Clause"),
    ("BSD-4-clause", "BSD-4-Clause"),
    ("Expat", "MIT"),
    ("MIT", "MIT"),
    ("ISC", "ISC"),
    ("Zlib", "Zlib"),
    ("Apache-2.0", "Apache-2.0"),
    ("MPL-1.1", "MPL-1.1"),
    ("MPL-2.0", "MPL-2.0"),
    ("Artistic", "Artistic-1.0"),
    ("Artistic-1.0", "Artistic-1.0"),
    ("Artistic-2.0", "Artistic-2.0"),
    ("CC0-1.0", "CC0-1.0"),
    ("CC-BY-3.0", "CC-BY-3.0"),
    ("CC-BY-4.0", "CC-BY-4.0"),
    ("CC-BY-SA-3.0", "CC-BY-SA-3.0"),
    ("CC-BY-SA-4.0", "CC-BY-SA-4.0"),
    ("PSF-2", "PSF-2.0"),
    ("Python", "Python-2.0"),
    ("OpenSSL", "OpenSSL"),
    ("curl", "curl"),
    ("X11", "X11"),
    ("FSFAP", "FSFAP"),
    ("FSFUL", "FSFUL"),
    ("FSFULLR", "FSFULLR"),
    ("BSL-1.0", "BSL-1.0"),
    ("Unicode-DFS-2016", "Unicode-DFS-2016"),
    ("Unicode-3.0", "Unicode-3.0"),
    ("ICU", "ICU"),
    ("OFL-1.1", "OFL-1.1"),
    ("bzip2-1.0.6", "bzip2-1.0.6"),
    ("Sleepycat", "Sleepycat"),
    ("NTP", "NTP"),
    ("WTFPL", "WTFPL"),
];

/// The SPDX id of a Debian short name; `LicenseRef-…` when there is no exact equivalent.
pub fn spdx_id(name: &str) -> String {
    if let Some((_, id)) = SPDX_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return (*id).to_string();
    }
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("LicenseRef-{clean}")
}

/// The license names declared by a DEP-5 copyright file; `None` if it is not machine-readable.
pub fn dep5_licenses(copyright: &str) -> Option<BTreeSet<String>> {
    let first = copyright.lines().next()?;
    if !(first.starts_with("Format:") && first.contains("copyright-format")) {
        return None;
    }
    let mut names = BTreeSet::new();
    for line in copyright.lines() {
        let Some(value) = line.strip_prefix("License:") else {
            continue;
        };
        let value = value.trim();
        // `GPL-2+ or Artistic`, `BSD-3-clause and MIT`, `GPL-3+ with GCC-exception`.
        let value = value.split(" with ").next().unwrap_or(value);
        for part in value
            .split([',', '|', '&'])
            .flat_map(|p| p.split(" or "))
            .flat_map(|p| p.split(" and "))
        {
            let part = part.trim();
            if !part.is_empty() && !part.contains(' ') {
                names.insert(part.to_string());
            }
        }
    }
    (!names.is_empty()).then_some(names)
}

/// An SPDX expression for a set of Debian license names (all of them apply).
pub fn expression(names: &BTreeSet<String>) -> String {
    let ids: BTreeSet<String> = names.iter().map(|n| spdx_id(n)).collect();
    ids.into_iter().collect::<Vec<_>>().join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep5_is_read_and_mapped() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                    Upstream-Name: x\n\nFiles: *\nCopyright: me\nLicense: GPL-2+ or Artistic\n\n\
                    Files: y\nLicense: public-domain\n text\n\nLicense: Expat\n Permission...\n";
        let names = dep5_licenses(text).unwrap();
        assert_eq!(
            expression(&names),
            "Artistic-1.0 AND GPL-2.0-or-later AND LicenseRef-public-domain AND MIT"
        );
        assert!(dep5_licenses("This package was debianized by...").is_none());
    }
}
