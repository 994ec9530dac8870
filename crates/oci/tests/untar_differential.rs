//! Differential test of `oci::untar` against Go's `archive/tar`, the reader runtimes unpack
//! layers with: crafted archives, the kept corpus (`fuzz/corpus/untar`) and a bounded number
//! of seeded mutations of both are read by each. Whatever our reader accepts, Go must read
//! identically (names, link targets, types, sizes, modes, owners, contents); what the two
//! read differently must be refused by ours.
//!
//! `DIFF_TAR_CASES` sets the number of mutations (default 20,000), `DIFF_TAR_SEED` the seed.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use oci::untar::{Header, TarError, walk};
use serde_json::Value;
use sha2::Digest;
use testkit::rawtar::crafted;

/// One entry as both readers report it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    name: String,
    link: String,
    kind: u64,
    size: u64,
    mode: u64,
    uid: u64,
    gid: u64,
    sha256: String,
}

fn ours(tar: &[u8]) -> Result<Vec<Seen>, String> {
    let mut out = Vec::new();
    walk(
        tar,
        |h: &Header, body: &mut dyn Read| -> Result<(), TarError> {
            let mut hasher = sha2::Sha256::new();
            std::io::copy(body, &mut hasher).map_err(|e| TarError {
                entry: 0,
                name: None,
                reason: e.to_string(),
            })?;
            out.push(Seen {
                name: hex::encode(&h.name),
                link: hex::encode(&h.link),
                kind: u64::from(h.kind.typeflag()),
                size: h.size,
                mode: u64::from(h.mode),
                uid: h.uid,
                gid: h.gid,
                sha256: hex::encode(hasher.finalize()),
            });
            Ok(())
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(out)
}

fn go_seen(v: &Value) -> Seen {
    let n = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    Seen {
        name: s("name"),
        link: s("link"),
        kind: n("type"),
        size: n("size"),
        mode: n("mode"),
        uid: n("uid"),
        gid: n("gid"),
        sha256: s("sha256"),
    }
}

/// Builds the Go reference program (once per target directory).
fn reference() -> Option<PathBuf> {
    if !testkit::have("go") {
        eprintln!("SKIP: go is not installed; the differential tar test did not run");
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("untar-reference");
    fs_err::create_dir_all(&dir).unwrap();
    let bin = dir.join("reference");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/untar/reference.go");
    let status = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(&source)
        .env("GO111MODULE", "off")
        .env("GOCACHE", dir.join("cache"))
        .env("GOPATH", dir.join("gopath"))
        .status()
        .unwrap();
    assert!(status.success(), "building the Go reference reader failed");
    Some(bin)
}

/// What Go read of each archive: its entries, or its error.
fn go_reads(bin: &Path, archives: &[Vec<u8>]) -> Vec<Result<Vec<Seen>, String>> {
    let mut input = tempfile::NamedTempFile::new().unwrap();
    for a in archives {
        input
            .write_all(&u32::try_from(a.len()).unwrap().to_be_bytes())
            .unwrap();
        input.write_all(a).unwrap();
    }
    input.flush().unwrap();
    let out = std::process::Command::new(bin)
        .stdin(fs_err::File::open(input.path()).unwrap().into_file())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), archives.len());
    lines
        .iter()
        .map(|v| match v["error"].as_str() {
            Some(e) if !e.is_empty() => Err(e.to_string()),
            _ => Ok(v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(go_seen)
                .collect()),
        })
        .collect()
}

/// The seeds: crafted archives and the kept corpus.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = crafted();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/untar");
    let mut files: Vec<_> = fs_err::read_dir(&corpus)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        seeds.push((f.display().to_string(), fs_err::read(&f).unwrap()));
    }
    seeds
}

/// xorshift64*: a small seeded generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The offsets of the blocks of `tar` that look like headers (a checksum that matches).
fn header_blocks(tar: &[u8]) -> Vec<usize> {
    (0..tar.len() / 512)
        .map(|i| i * 512)
        .filter(|&at| {
            let b = &tar[at..at + 512];
            let sum: u64 = b
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u64::from(c)
                    }
                })
                .sum();
            let stored = std::str::from_utf8(&b[148..154]).ok();
            stored.and_then(|s| u64::from_str_radix(s.trim(), 8).ok()) == Some(sum)
        })
        .collect()
}

fn reseal(block: &mut [u8], signed: bool) {
    block[148..156].fill(b' ');
    let sum: i64 = block
        .iter()
        .map(|&c| {
            if signed {
                i64::from(c.cast_signed())
            } else {
                i64::from(c)
            }
        })
        .sum();
    block[148..156].copy_from_slice(format!("{:06o}\x00 ", sum.rem_euclid(1 << 18)).as_bytes());
}

/// Numeric field values readers part on.
const NUMBERS: &[&[u8]] = &[
    b"0000644\x00",
    b"\x000000644",
    b"   644 \x00",
    b"644\x00\x00\x00\x00\x00",
    b"0000644 ",
    b"00006 44",
    b"\x00\x00\x00\x00\x00\x00\x00\x00",
    b"        ",
    b"0000009\x00",
    b"+000644\x00",
    b"\x80\x00\x00\x00\x00\x00\x01\xa4",
    b"\xff\xff\xff\xff\xff\xff\xff\xff",
    b"7777777\x00",
];
const MAGICS: &[&[u8; 8]] = &[
    b"xyzzy\x0000",
    b"ustar\x0001",
    b"ustar\x0000",
    b"ustar  \x00",
    b"ustar\x00  ",
    b"ustar \x000",
    b"\x00\x00\x00\x00\x00\x00\x00\x00",
    b"ustar\x00\x00\x00",
    b"USTAR\x0000",
];
const FLAGS: &[u8] = b"0123456701234567xgLKSDMNVX\0";
const FIELDS: &[(usize, usize)] = &[
    (100, 8),
    (108, 8),
    (116, 8),
    (124, 12),
    (136, 12),
    (329, 8),
    (337, 8),
];

/// One mutation of a seed: a header field changed and the block resealed, a body byte
/// changed, blocks spliced in from another seed, or the archive cut short.
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut t = seed.to_vec();
    for _ in 0..=rng.below(3) {
        let headers = header_blocks(&t);
        match rng.below(10) {
            0..=5 if !headers.is_empty() => {
                let at = *rng.pick(&headers);
                let block = &mut t[at..at + 512];
                match rng.below(8) {
                    0 => {
                        let (off, len) = *rng.pick(FIELDS);
                        let v = rng.pick(NUMBERS);
                        let n = v.len().min(len);
                        block[off + len - n..off + len].copy_from_slice(&v[..n]);
                    }
                    1 => block[257..265].copy_from_slice(*rng.pick(MAGICS)),
                    2 => block[156] = *rng.pick(FLAGS),
                    3 => {
                        let trailer: [u8; 4] = *rng.pick(&[*b"tar\x00", [0; 4], *b"xyz\x00"]);
                        block[508..512].copy_from_slice(&trailer);
                    }
                    4 => {
                        let off = 345 + rng.below(155);
                        block[off] = *rng.pick(b"a/.\x00\xff");
                    }
                    5 => {
                        let off = rng.below(100);
                        block[off] = *rng.pick(b"a/.\x00\xc3");
                    }
                    _ => {
                        let off = rng.below(512);
                        block[off] = u8::try_from(rng.next() & 0xff).unwrap();
                    }
                }
                if rng.below(20) != 0 {
                    reseal(block, rng.below(8) == 0);
                }
            }
            6 | 7 if !t.is_empty() => {
                let off = rng.below(t.len());
                t[off] = *rng.pick(b"0123456789 =\n\x00a/");
            }
            8 if other.len() >= 512 => {
                let from = rng.below(other.len() / 512) * 512;
                let blocks = &other[from..other.len().min(from + 512 * (1 + rng.below(3)))];
                let at = rng.below(t.len() / 512 + 1) * 512;
                t.splice(at..at, blocks.iter().copied());
            }
            _ if !t.is_empty() => t.truncate(rng.below(t.len())),
            _ => {}
        }
    }
    t
}

#[test]
fn whatever_we_accept_go_reads_identically() {
    let Some(bin) = reference() else { return };
    let seeds = seeds();
    let cases: usize = std::env::var("DIFF_TAR_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("DIFF_TAR_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_7a12);
    let mut rng = Rng(seed | 1);
    let mut archives: Vec<(String, Vec<u8>)> = seeds.clone();
    for i in 0..cases {
        let (name, a) = rng.pick(&seeds);
        let (_, b) = rng.pick(&seeds);
        archives.push((format!("mutation {i} of {name}"), mutate(&mut rng, a, b)));
    }
    let bytes: Vec<Vec<u8>> = archives.iter().map(|(_, a)| a.clone()).collect();
    let go = go_reads(&bin, &bytes);
    let (mut accepted, mut refused, mut go_refused) = (0, 0, 0);
    for ((name, tar), go) in archives.iter().zip(go) {
        go_refused += usize::from(go.is_err());
        let Ok(mine) = ours(tar) else {
            refused += 1;
            continue;
        };
        accepted += 1;
        if go.as_ref() != Ok(&mine) {
            let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("untar-disagreement.tar");
            fs_err::write(&kept, tar).unwrap();
            panic!(
                "{name}: we read {mine:?}, Go read {go:?} (archive kept at {})",
                kept.display()
            );
        }
    }
    eprintln!(
        "{} archives: {accepted} read alike, {refused} refused by us, {go_refused} refused by Go",
        archives.len()
    );
    // The test means something only if both sides of it happen often.
    assert!(accepted > archives.len() / 10 && refused > archives.len() / 10);
}

/// Writes the crafted seeds into the kept corpus (`UNTAR_WRITE_CORPUS=1`), so the fuzz target
/// and later runs start from them.
#[test]
fn the_kept_corpus_holds_every_crafted_case() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/untar");
    for (name, tar) in crafted() {
        let path = corpus.join(format!("{name}.tar"));
        if std::env::var_os("UNTAR_WRITE_CORPUS").is_some() {
            fs_err::create_dir_all(&corpus).unwrap();
            fs_err::write(&path, &tar).unwrap();
        }
        assert_eq!(
            fs_err::read(&path).ok().as_deref(),
            Some(tar.as_slice()),
            "{} is stale: run with UNTAR_WRITE_CORPUS=1",
            path.display()
        );
    }
}
