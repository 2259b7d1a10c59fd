//! The workspace's no-panic policy stays switched on: every library crate denies clippy's
//! `unwrap_used` and `expect_used` outside its tests (CI runs clippy with `-D warnings`), so a
//! crate added later cannot silently opt out.

use std::path::Path;

#[test]
fn every_library_crate_denies_unwrap_and_expect() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let lib = entry.unwrap().path().join("src/lib.rs");
        let Ok(text) = std::fs::read_to_string(&lib) else { continue };
        assert!(
            text.contains("#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]"),
            "{} does not deny unwrap_used / expect_used",
            lib.display()
        );
        checked += 1;
    }
    assert!(checked >= 8, "found only {checked} library crates");
}
