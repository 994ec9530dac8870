//! Debian version ordering and relations (`>=`, `<<`, …).
//!
//! Ordering comes from the `debversion` crate; this module adds the relation operators of
//! `Depends` fields and a typed wrapper so callers never compare version strings by hand.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A parsed Debian version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(debversion::Version);

impl Version {
    /// Parses a version, returning `None` when it is not a valid Debian version.
    pub fn parse(text: &str) -> Option<Self> {
        debversion::Version::from_str(text.trim()).ok().map(Version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The relation operators of Debian dependency fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    /// Parses `<<`, `<=`, `=`, `>=`, `>>` (and the obsolete `<`, `>` meaning `<=`, `>=`).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "<<" => Op::Lt,
            "<=" | "<" => Op::Le,
            "=" => Op::Eq,
            ">=" | ">" => Op::Ge,
            ">>" => Op::Gt,
            _ => return None,
        })
    }

    /// Whether `have` satisfies `have OP want`.
    pub fn holds(self, have: &Version, want: &Version) -> bool {
        let ord = have.cmp(want);
        match self {
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Eq => ord == Ordering::Equal,
            Op::Ge => ord != Ordering::Less,
            Op::Gt => ord == Ordering::Greater,
        }
    }

    /// The operator as Debian writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn known_orderings() {
        assert!(v("1.0~rc1") < v("1.0"));
        assert!(v("1:0.1") > v("9.9"));
        assert!(v("2.36-9+deb12u4") < v("2.36-9+deb12u10"));
        assert!(Op::Ge.holds(&v("4.3"), &v("4.3")));
        assert!(!Op::Lt.holds(&v("4.3"), &v("4.3")));
    }

    fn dpkg_compare(a: &str, op: &str, b: &str) -> bool {
        let status = std::process::Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .status()
            .expect("dpkg must be installed");
        // dpkg exits 0 for true, 1 for false, anything else for an error.
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "dpkg failed on {a} {op} {b}"
        );
        status.success()
    }

    #[test]
    fn dpkg_is_there_to_compare_with() {
        // The property below compares with dpkg; without it the comparison would be vacuous.
        assert!(
            std::path::Path::new("/usr/bin/dpkg").exists(),
            "dpkg --compare-versions is the reference"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Our ordering must agree with dpkg's own on arbitrary well-formed versions.
        #[test]
        fn agrees_with_dpkg(
            e1 in 0u8..3, u1 in "[0-9][0-9a-z.+~]{0,6}", r1 in "[0-9a-z.+~]{0,4}",
            e2 in 0u8..3, u2 in "[0-9][0-9a-z.+~]{0,6}", r2 in "[0-9a-z.+~]{0,4}",
        ) {
            let mk = |e: u8, u: &str, r: &str| {
                let mut s = String::new();
                if e > 0 { s = format!("{e}:"); }
                s.push_str(u);
                if !r.is_empty() { s.push('-'); s.push_str(r); }
                s
            };
            let a = mk(e1, &u1, &r1);
            let b = mk(e2, &u2, &r2);
            prop_assume!(Version::parse(&a).is_some() && Version::parse(&b).is_some());
            let ours = v(&a) < v(&b);
            prop_assert_eq!(ours, dpkg_compare(&a, "lt", &b), "{} vs {}", a, b);
        }
    }
}
