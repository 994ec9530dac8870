//! A small but complete fake Debian 13 archive holding every package the catalog names,
//! with the dependency shapes that matter (awk, debconf alternatives, libgcc-s1, Provides).

use crate::deb::{DebBuilder, DebEntry};
use crate::repo::{Repo, SignKey};

/// A fake busybox binary: some bytes, then the sorted NUL-separated applet table.
pub fn fake_busybox() -> Vec<u8> {
    let mut bin = b"\x7fELF\x02\x01\x01 fake busybox\0".to_vec();
    let mut names: Vec<String> = ["[", "[[", "ash", "cat", "echo", "ls", "sh", "busybox"]
        .iter()
        .map(|s| (*s).to_string())
        .chain((0..60).map(|i| format!("tool{i:02}")))
        .collect();
    names.sort();
    for n in names {
        bin.extend_from_slice(n.as_bytes());
        bin.push(0);
    }
    bin.extend_from_slice(b"\0other strings\0");
    bin
}

/// The packages of the fake archive, before any test changes them.
pub fn catalog_packages() -> Vec<DebBuilder> {
    let a = "amd64";
    vec![
        DebBuilder::new("base-files", "13.8", a)
            .field("Pre-Depends", "awk")
            .field("Essential", "yes")
            .file("etc/debian_version", b"13.8\n")
            .file("usr/lib/os-release", b"PRETTY_NAME=\"Debian GNU/Linux 13\"\n")
            .entry(DebEntry::Symlink("etc/os-release".into(), "../usr/lib/os-release".into()))
            .entry(DebEntry::Symlink("bin".into(), "usr/bin".into()))
            .entry(DebEntry::Symlink("lib".into(), "usr/lib".into()))
            .entry(DebEntry::Symlink("sbin".into(), "usr/sbin".into())),
        DebBuilder::new("mawk", "1.3.4", a).field("Provides", "awk").file("usr/bin/mawk", b"mawk"),
        DebBuilder::new("netbase", "6.5", "all").file("etc/services", b"ssh 22/tcp\n"),
        DebBuilder::new("tzdata", "2026f-0+deb13u1", "all")
            .field("Depends", "debconf (>= 0.5) | debconf-2.0")
            .file("usr/share/zoneinfo/UTC", b"TZif2 utc"),
        DebBuilder::new("tzdata-legacy", "2026f-0+deb13u1", "all")
            .field("Depends", "tzdata")
            .file("usr/share/zoneinfo/US/Eastern", b"TZif2 est"),
        DebBuilder::new("media-types", "13.0.0", "all").file("etc/mime.types", b"text/plain txt\n"),
        DebBuilder::new("debconf", "1.5", "all").field("Provides", "debconf-2.0").file("usr/bin/debconf", b"x"),
        DebBuilder::new("cdebconf", "0.2", a).field("Provides", "debconf-2.0").file("usr/bin/cdebconf", b"x"),
        DebBuilder::new("libc6", "2.41-12", a)
            .field("Depends", "libgcc-s1")
            .file_mode("lib/x86_64-linux-gnu/libc.so.6", b"\x7fELF libc", 0o755)
            .file_mode("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", b"\x7fELF ld", 0o755)
            .entry(DebEntry::Symlink(
                "lib64/ld-linux-x86-64.so.2".into(),
                "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2".into(),
            )),
        DebBuilder::new("libssl3t64", "3.5.4-1", a)
            .field("Depends", "libc6 (>= 2.34), libzstd1 (>= 1.5.5), zlib1g (>= 1:1.1.4), openssl-provider-legacy")
            .file("usr/lib/x86_64-linux-gnu/libssl.so.3", b"\x7fELF ssl"),
        DebBuilder::new("openssl-provider-legacy", "3.5.4-1", a).file("usr/lib/x86_64-linux-gnu/ossl-modules/legacy.so", b"x"),
        DebBuilder::new("libzstd1", "1.5.7", a).field("Depends", "libc6").file("usr/lib/x86_64-linux-gnu/libzstd.so.1", b"z"),
        DebBuilder::new("zlib1g", "1:1.3", a).field("Depends", "libc6").file("usr/lib/x86_64-linux-gnu/libz.so.1", b"z"),
        DebBuilder::new("gcc-14-base", "14.2.0-19", a).file("usr/share/doc/gcc-14-base/README", b"gcc"),
        DebBuilder::new("libgcc-s1", "14.2.0-19", a)
            .field("Depends", "gcc-14-base (= 14.2.0-19), libc6 (>= 2.35)")
            .file("usr/lib/x86_64-linux-gnu/libgcc_s.so.1", b"gcc_s"),
        DebBuilder::new("libstdc++6", "14.2.0-19", a)
            .field("Depends", "gcc-14-base (= 14.2.0-19), libc6 (>= 2.36), libgcc-s1 (>= 4.3)")
            .file("usr/lib/x86_64-linux-gnu/libstdc++.so.6", b"stdc++"),
        DebBuilder::new("libgomp1", "14.2.0-19", a)
            .field("Depends", "gcc-14-base (= 14.2.0-19), libc6 (>= 2.34)")
            .file("usr/lib/x86_64-linux-gnu/libgomp.so.1", b"gomp"),
        DebBuilder::new("ca-certificates", "20250419", "all")
            .field("Depends", "openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0")
            .file("usr/share/ca-certificates/mozilla/B_Root.crt", b"-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n")
            .file("usr/share/ca-certificates/mozilla/A_Root.crt", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
            .file("usr/share/doc/ca-certificates/copyright", b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+ and MPL-2.0\n")
            .file("usr/sbin/update-ca-certificates", b"#!/bin/sh\n"),
        DebBuilder::new("busybox-static", "1:1.37.0-6", a).file_mode("bin/busybox", &fake_busybox(), 0o755),
    ]
}

/// A published fake archive with `trixie`, `trixie-updates` (a newer tzdata) and an empty
/// `trixie-security`, after `tweak` changed the package list.
pub fn catalog_repo_with(tweak: impl FnOnce(&mut Vec<DebBuilder>)) -> Repo {
    catalog_repo_for(&["amd64"], tweak)
}

/// The fake archive published for several architectures.
pub fn catalog_repo_for(arches: &[&str], tweak: impl FnOnce(&mut Vec<DebBuilder>)) -> Repo {
    let mut pkgs = catalog_packages();
    tweak(&mut pkgs);
    let mut repo = Repo::new();
    for p in pkgs {
        repo.add("trixie", p);
    }
    repo.add(
        "trixie-updates",
        DebBuilder::new("tzdata", "2026g-0+deb13u1", "all")
            .field("Depends", "debconf (>= 0.5) | debconf-2.0")
            .file("usr/share/zoneinfo/UTC", b"TZif2 utc newer"),
    );
    repo.suite("trixie-security");
    repo.publish_arches(
        arches,
        Some("Sat, 01 Jan 2050 00:00:00 UTC"),
        SignKey::shared(),
    );
    repo
}

/// The unchanged fake archive.
pub fn catalog_repo() -> Repo {
    catalog_repo_with(|_| {})
}
