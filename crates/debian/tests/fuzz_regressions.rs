//! Inputs that once crashed a parser under fuzzing (`fuzz/`): each must now be refused with an
//! error, never a panic.

use std::path::Path;

fn inputs(prefix: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut out: Vec<_> = fs_err::read_dir(dir)
        .expect("fuzz regression inputs")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn deb_inputs_are_refused_not_panicked_on() {
    let found = inputs("deb-");
    assert!(!found.is_empty());
    for path in found {
        assert!(
            debian::deb::read_control(&path, "fuzz").is_err(),
            "{}",
            path.display()
        );
        assert!(
            debian::deb::read_data(&path, "fuzz", |_, _| Ok(())).is_err(),
            "{}",
            path.display()
        );
    }
}
