//! Tar archives written block by block, every header byte under the test's control: the
//! crafted inputs of the tar readers' tests and the seeds of their differential fuzzing.

/// A header format: which magic, version and trailer its block carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    V7,
    Ustar,
    Gnu,
    Star,
}

/// One 512-byte header block being written.
#[derive(Clone)]
pub struct Block(pub [u8; 512]);

impl Block {
    /// A header of `format` for an entry of type `flag` named `name`, mode 0644, owner 0:0,
    /// size `size`.
    pub fn new(format: Format, flag: u8, name: &[u8], size: u64) -> Block {
        let mut b = Block([0; 512]);
        b.set(0, 100, name);
        b.octal(100, 8, 0o644);
        b.octal(108, 8, 0);
        b.octal(116, 8, 0);
        b.octal(124, 12, size);
        b.octal(136, 12, 0);
        b.0[156] = flag;
        match format {
            Format::V7 => {}
            Format::Ustar => {
                b.set(257, 8, b"ustar\x0000");
            }
            Format::Gnu => {
                b.set(257, 8, b"ustar  \x00");
            }
            Format::Star => {
                b.set(257, 8, b"ustar\x0000");
                b.set(508, 4, b"tar\x00");
            }
        }
        b
    }

    /// Writes `bytes` at `at`, NUL-padded to `len`.
    pub fn set(&mut self, at: usize, len: usize, bytes: &[u8]) -> &mut Self {
        let field = &mut self.0[at..at + len];
        field.fill(0);
        field[..bytes.len()].copy_from_slice(bytes);
        self
    }

    /// Writes a number in octal, as most writers do (digits then a NUL).
    pub fn octal(&mut self, at: usize, len: usize, value: u64) -> &mut Self {
        let text = format!("{value:0width$o}", width = len - 1);
        self.set(at, len, text.as_bytes())
    }

    /// The block with its checksum computed (the unsigned sum, as writers store it).
    pub fn sealed(&self) -> [u8; 512] {
        let mut b = self.0;
        b[148..156].fill(b' ');
        let sum: u64 = b.iter().map(|&c| u64::from(c)).sum();
        b[148..156].copy_from_slice(format!("{sum:06o}\x00 ").as_bytes());
        b
    }
}

/// An archive being written: header blocks and bodies, each body padded to a block.
#[derive(Default, Clone)]
pub struct RawTar(pub Vec<u8>);

impl RawTar {
    pub fn new() -> RawTar {
        RawTar::default()
    }

    /// A sealed header and its body.
    pub fn entry(&mut self, block: &Block, body: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&block.sealed());
        self.body(body)
    }

    /// A body alone (padded).
    pub fn body(&mut self, body: &[u8]) -> &mut Self {
        self.0.extend_from_slice(body);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }

    /// A PAX extended header (`x`) of `records` (key, value).
    pub fn pax(&mut self, format: Format, records: &[(&str, &[u8])]) -> &mut Self {
        let body = pax_body(records);
        let b = Block::new(format, b'x', b"PaxHeaders/x", body.len() as u64);
        self.entry(&b, &body)
    }

    /// A GNU long name (`L`) or long link (`K`) entry.
    pub fn long(&mut self, flag: u8, name: &[u8]) -> &mut Self {
        let mut body = name.to_vec();
        body.push(0);
        let b = Block::new(Format::Gnu, flag, b"././@LongLink", body.len() as u64);
        self.entry(&b, &body)
    }

    /// The two zero blocks that end an archive.
    pub fn end(&mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0.clone()
    }
}

/// PAX records, each `LENGTH KEY=VALUE\n` with the length counting itself.
pub fn pax_body(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3; // space, '=', newline
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

/// Crafted archives covering every header format, their combinations and the forms readers
/// disagree on; each with a name that says what it holds.
#[must_use]
pub fn crafted() -> Vec<(String, Vec<u8>)> {
    [formats(), extensions(), pax(), numbers_and_ends()].concat()
}

/// The plain formats, their name prefixes.
fn formats() -> Vec<(String, Vec<u8>)> {
    use Format::{Gnu, Star, Ustar, V7};
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, tar: Vec<u8>| out.push((name.to_string(), tar));
    for (label, f) in [("v7", V7), ("ustar", Ustar), ("gnu", Gnu), ("star", Star)] {
        let mut t = RawTar::new();
        t.entry(&Block::new(f, b'5', b"etc/", 0), b"");
        t.entry(&Block::new(f, b'0', b"etc/passwd", 5), b"root\n");
        t.entry(
            Block::new(f, b'2', b"etc/alias", 0).set(157, 100, b"passwd"),
            b"",
        );
        t.entry(
            Block::new(f, b'1', b"etc/hard", 0).set(157, 100, b"etc/passwd"),
            b"",
        );
        t.entry(&Block::new(f, 0, b"legacy-dir/", 0), b"");
        t.entry(&Block::new(f, 0, b"legacy-file", 1), b"x");
        add(&format!("{label}-basic"), t.end());
    }
    // A name prefix: ustar's 155 bytes, STAR's 131 (plus times), GNU's none.
    for (label, f) in [("ustar", Ustar), ("gnu", Gnu), ("star", Star)] {
        let mut b = Block::new(f, b'0', b"passwd", 1);
        b.set(345, 3, b"etc");
        add(
            &format!("{label}-prefix"),
            RawTar::new().entry(&b, b"x").end(),
        );
    }
    let mut star = Block::new(Star, b'0', b"etc/passwd", 1);
    star.set(345, 13, b".00000000000")
        .octal(476, 12, 1)
        .octal(488, 12, 1);
    add("star-times", RawTar::new().entry(&star, b"x").end());
    out
}

/// GNU long names and PAX headers, alone and together.
fn extensions() -> Vec<(String, Vec<u8>)> {
    use Format::{Gnu, Ustar};
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, tar: Vec<u8>| out.push((name.to_string(), tar));
    let long = [b'd'; 150]
        .iter()
        .chain(b"/file")
        .copied()
        .collect::<Vec<u8>>();
    add(
        "gnu-longname",
        RawTar::new()
            .long(b'L', &long)
            .entry(&Block::new(Gnu, b'0', b"short", 2), b"hi")
            .end(),
    );
    add(
        "gnu-longlink",
        RawTar::new()
            .long(b'K', &long)
            .entry(&Block::new(Gnu, b'2', b"link", 0), b"")
            .end(),
    );
    add(
        "gnu-longname-then-pax-path",
        RawTar::new()
            .long(b'L', b"etc/decoy")
            .pax(Ustar, &[("path", b"etc/passwd")])
            .entry(&Block::new(Gnu, b'0', b"x", 1), b"x")
            .end(),
    );
    add(
        "pax-path-then-gnu-longname",
        RawTar::new()
            .pax(Ustar, &[("path", b"etc/passwd")])
            .long(b'L', b"etc/decoy")
            .entry(&Block::new(Gnu, b'0', b"x", 1), b"x")
            .end(),
    );
    out
}

/// PAX records one by one.
fn pax() -> Vec<(String, Vec<u8>)> {
    use Format::{Gnu, Ustar};
    let long = [b'd'; 150]
        .iter()
        .chain(b"/file")
        .copied()
        .collect::<Vec<u8>>();
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, tar: Vec<u8>| out.push((name.to_string(), tar));
    add(
        "pax-records",
        RawTar::new()
            .pax(
                Ustar,
                &[
                    ("path", long.as_slice()),
                    ("uid", b"65532"),
                    ("gid", b"65532"),
                    ("mtime", b"1700000000.5"),
                    ("uname", b"nonroot"),
                ],
            )
            .entry(&Block::new(Ustar, b'0', b"short", 3), b"abc")
            .end(),
    );
    add(
        "pax-empty-path",
        RawTar::new()
            .pax(Ustar, &[("path", b"")])
            .entry(&Block::new(Ustar, b'0', b"kept", 0), b"")
            .end(),
    );
    add(
        "pax-size-differs",
        RawTar::new()
            .pax(Ustar, &[("size", b"0")])
            .entry(&Block::new(Ustar, b'0', b"decoy", 512), &[b'A'; 512])
            .end(),
    );
    add(
        "pax-twice",
        RawTar::new()
            .pax(Ustar, &[("path", b"a")])
            .pax(Ustar, &[("uid", b"5")])
            .entry(&Block::new(Ustar, b'0', b"b", 0), b"")
            .end(),
    );
    add(
        "pax-global",
        RawTar::new()
            .entry(&Block::new(Ustar, b'g', b"global", 0), b"")
            .entry(&Block::new(Ustar, b'0', b"after-empty-global", 0), b"")
            .end(),
    );
    let g = pax_body(&[("path", b"etc/evil")]);
    add(
        "pax-global-records",
        RawTar::new()
            .entry(&Block::new(Ustar, b'g', b"global", g.len() as u64), &g)
            .entry(&Block::new(Ustar, b'0', b"a", 0), b"")
            .end(),
    );
    add(
        "pax-xattr",
        RawTar::new()
            .pax(Ustar, &[("SCHILY.xattr.security.capability", b"\x01\x00")])
            .entry(&Block::new(Ustar, b'0', b"usr/bin/ping", 0), b"")
            .end(),
    );
    add(
        "pax-sparse",
        RawTar::new()
            .pax(
                Ustar,
                &[("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0")],
            )
            .entry(&Block::new(Ustar, b'0', b"sparse", 0), b"")
            .end(),
    );
    add(
        "gnu-sparse-old",
        RawTar::new()
            .entry(&Block::new(Gnu, b'S', b"sparse", 0), b"")
            .end(),
    );
    out
}

/// Sizes, numbers, types and ends of archive readers part on.
fn numbers_and_ends() -> Vec<(String, Vec<u8>)> {
    use Format::{Gnu, Ustar};
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, tar: Vec<u8>| out.push((name.to_string(), tar));
    // A symlink with a size: Go skips no body, some readers skip 512 bytes.
    let mut hidden = RawTar::new();
    hidden.entry(&Block::new(Ustar, b'2', b"link", 512), b"");
    hidden
        .0
        .extend_from_slice(&Block::new(Ustar, b'0', b"hidden", 0).sealed());
    add("symlink-with-size", hidden.end());
    // Base-256 numbers (large owners and sizes).
    let mut b = Block::new(Gnu, b'0', b"big-owner", 0);
    b.set(108, 8, &[0x80, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
    add("base256-uid", RawTar::new().entry(&b, b"").end());
    let mut b = Block::new(Gnu, b'0', b"negative-uid", 0);
    b.set(108, 8, &[0xff; 8]);
    add("base256-negative", RawTar::new().entry(&b, b"").end());
    // Numbers padded in ways readers part on.
    let mut b = Block::new(Ustar, b'0', b"nul-first-mode", 0);
    b.set(100, 8, b"\x000000644");
    add("octal-leading-nul", RawTar::new().entry(&b, b"").end());
    let mut b = Block::new(Ustar, b'0', b"space-mode", 0);
    b.set(100, 8, b"   644 \x00");
    add("octal-spaces", RawTar::new().entry(&b, b"").end());
    let mut b = Block::new(Ustar, b'0', b"setuid", 0);
    b.octal(100, 8, 0o4755);
    add("setuid", RawTar::new().entry(&b, b"").end());
    add(
        "devices",
        RawTar::new()
            .entry(
                Block::new(Ustar, b'3', b"dev/null", 0)
                    .octal(329, 8, 1)
                    .octal(337, 8, 3),
                b"",
            )
            .entry(&Block::new(Ustar, b'6', b"fifo", 0), b"")
            .end(),
    );
    let mut t = RawTar::new();
    t.entry(&Block::new(Ustar, b'0', b"no-end", 3), b"abc");
    add("no-end-blocks", t.0.clone());
    let mut t = RawTar::new();
    t.entry(&Block::new(Ustar, b'0', b"a", 0), b"");
    t.0.extend_from_slice(&[0; 512]);
    t.0.extend_from_slice(&Block::new(Ustar, b'0', b"after-zero", 0).sealed());
    add("zero-block-then-header", t.end());
    add(
        "version-not-00",
        RawTar::new()
            .entry(
                Block::new(Ustar, b'0', b"f", 0)
                    .set(263, 2, b"  ")
                    .set(345, 3, b"etc"),
                b"",
            )
            .end(),
    );
    out
}

/// The crafted archive named `name`.
#[must_use]
pub fn case(name: &str) -> Vec<u8> {
    let found = crafted().into_iter().find(|(n, _)| n == name);
    found.unwrap_or_else(|| panic!("no crafted case {name}")).1
}
