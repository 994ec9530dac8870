use super::*;
use testkit::rawtar::{Block, Format, RawTar, case};

/// Every entry of an archive, or the refusal.
fn read(tar: &[u8]) -> Result<Vec<(Header, Vec<u8>)>, TarError> {
    let mut out = Vec::new();
    walk(
        tar,
        |h: &Header, body: &mut dyn Read| -> Result<(), TarError> {
            let mut bytes = Vec::new();
            body.read_to_end(&mut bytes).map_err(|e| TarError {
                entry: 0,
                name: None,
                reason: e.to_string(),
            })?;
            out.push((h.clone(), bytes));
            Ok(())
        },
    )?;
    Ok(out)
}

fn refusal(name: &str) -> String {
    read(&case(name)).unwrap_err().to_string()
}

#[test]
fn every_plain_format_reads_alike() {
    for f in ["v7-basic", "ustar-basic", "gnu-basic"] {
        let entries = read(&case(f)).unwrap();
        let names: Vec<_> = entries
            .iter()
            .map(|(h, _)| (h.name.as_str(), h.kind))
            .collect();
        assert_eq!(
            names,
            [
                ("etc/", Kind::Dir),
                ("etc/passwd", Kind::File),
                ("etc/alias", Kind::Symlink),
                ("etc/hard", Kind::HardLink),
                ("legacy-dir/", Kind::Dir),
                ("legacy-file", Kind::File),
            ],
            "{f}"
        );
        assert_eq!(entries[1].1, b"root\n");
        assert_eq!(entries[2].0.link, "passwd");
    }
}

#[test]
fn star_headers_are_refused() {
    assert!(
        refusal("star-basic").contains("STAR"),
        "{}",
        refusal("star-basic")
    );
    assert!(refusal("star-times").contains("STAR"));
}

#[test]
fn a_ustar_prefix_is_applied_and_a_gnu_one_refused() {
    let e = read(&case("ustar-prefix")).unwrap();
    assert_eq!(e[0].0.name, "etc/passwd");
    assert!(refusal("gnu-prefix").contains("name prefix"));
}

#[test]
fn long_names_apply_and_never_two_for_one_entry() {
    let e = read(&case("gnu-longname")).unwrap();
    assert!(e[0].0.name.ends_with("/file") && e[0].0.name.len() == 155);
    let e = read(&case("gnu-longlink")).unwrap();
    assert!(e[0].0.link.ends_with("/file"));
    for c in ["gnu-longname-then-pax-path", "pax-path-then-gnu-longname"] {
        assert!(
            refusal(c).contains("both a GNU long name and a PAX path"),
            "{c}: {}",
            refusal(c)
        );
    }
    assert!(refusal("pax-twice").contains("two PAX headers"));
}

#[test]
fn pax_records_are_read_as_go_reads_them() {
    let e = read(&case("pax-records")).unwrap();
    assert_eq!((e[0].0.uid, e[0].0.gid), (65532, 65532));
    assert!(e[0].0.name.ends_with("/file"));
    assert!(!e[0].0.pax_other);
    // An empty record keeps the header's value.
    assert_eq!(read(&case("pax-empty-path")).unwrap()[0].0.name, "kept");
    assert!(read(&case("pax-xattr")).unwrap()[0].0.pax_other);
    assert!(refusal("pax-size-differs").contains("PAX size"));
    assert!(refusal("pax-global-records").contains("global PAX"));
    assert_eq!(read(&case("pax-global")).unwrap().len(), 1);
}

#[test]
fn ambiguous_sizes_numbers_and_sparse_files_are_refused() {
    assert!(refusal("symlink-with-size").contains("with a size"));
    assert!(refusal("pax-sparse").contains("sparse"));
    assert!(refusal("gnu-sparse-old").contains("sparse"));
    assert!(refusal("base256-negative").contains("negative"));
    assert!(refusal("octal-leading-nul").contains("octal"));
    assert!(refusal("version-not-00").contains("unknown tar format"));
    // A V7 header is read whatever follows its link name, but a name prefix there.
    let mut v7 = Block::new(Format::V7, b'0', b"f", 0);
    v7.set(265, 32, b"someone");
    let mut t = RawTar::new();
    t.entry(&v7, b"");
    assert_eq!(read(&t.end()).unwrap()[0].0.name, "f");
    v7.set(345, 3, b"etc");
    let mut t = RawTar::new();
    t.entry(&v7, b"");
    assert!(
        read(&t.end())
            .unwrap_err()
            .to_string()
            .contains("V7 header")
    );
    assert!(refusal("zero-block-then-header").contains("zero block"));
    assert_eq!(read(&case("base256-uid")).unwrap()[0].0.uid, 65536);
    assert_eq!(read(&case("octal-spaces")).unwrap()[0].0.mode, 0o644);
    assert_eq!(read(&case("setuid")).unwrap()[0].0.mode, 0o4755);
}

#[test]
fn the_end_of_the_stream_between_entries_ends_the_archive() {
    let e = read(&case("no-end-blocks")).unwrap();
    assert_eq!(e[0].1, b"abc");
    let mut t = case("no-end-blocks");
    t.truncate(512 + 2);
    assert!(
        read(&t)
            .unwrap_err()
            .to_string()
            .contains("ends inside an entry")
    );
    t.truncate(100);
    assert!(
        read(&t)
            .unwrap_err()
            .to_string()
            .contains("ends inside a header")
    );
}

#[test]
fn a_damaged_checksum_is_refused_and_errors_name_the_entry() {
    let mut t = RawTar::new();
    t.entry(&Block::new(Format::Ustar, b'0', b"first", 0), b"");
    let mut bad = Block::new(Format::Ustar, b'0', b"second", 0).sealed();
    bad[0] = b'S';
    t.0.extend_from_slice(&bad);
    let e = read(&t.end()).unwrap_err();
    assert_eq!(e.entry, 2);
    assert!(e.to_string().contains("checksum"), "{e}");
    let mut t = RawTar::new();
    t.entry(&Block::new(Format::Ustar, b'7', b"contiguous", 0), b"");
    let e = read(&t.end()).unwrap_err().to_string();
    assert!(
        e.contains("(\"contiguous\")") && e.contains("type '7'"),
        "{e}"
    );
}
