//! The Debian releases the tool builds from.

use anyhow::Context;

/// Debian releases the catalog supports.
pub const RELEASES: &[DebianRelease] = &[
    DebianRelease {
        number: 12,
        codename: "bookworm",
    },
    DebianRelease {
        number: 13,
        codename: "trixie",
    },
];

/// A Debian release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebianRelease {
    pub number: u32,
    pub codename: &'static str,
}

impl DebianRelease {
    /// The newest supported release: its `busybox-static` goes into every release's debug
    /// layer, so that layer is one blob everywhere (as in the published images).
    pub fn newest() -> Self {
        RELEASES[RELEASES.len() - 1]
    }

    /// The release for a number (12, 13).
    pub fn from_number(n: u32) -> anyhow::Result<Self> {
        RELEASES
            .iter()
            .copied()
            .find(|r| r.number == n)
            .with_context(|| format!("Debian {n} is not supported (use 12 or 13)"))
    }

    /// Whether the release is merged-/usr (every package path under /bin, /lib… moves to /usr).
    pub fn merged_usr(self) -> bool {
        self.number >= 13
    }
}
