//! The manifest parser on any text, then the publish checks: whatever they accept makes an
//! index line that parses back as the same line.
#![no_main]

use index_git::{CrateName, IndexFile, IndexLine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(request) = registry_jobs::read_manifest(text, &"0".repeat(64)) else { return };
    let Ok((name, vers)) = request.validate() else { return };
    let line = IndexLine {
        deps: request.deps.clone(),
        links: request.links.clone(),
        rust_version: request.rust_version.clone(),
        ..IndexLine::new(name.as_str(), vers.to_string(), request.cksum.clone())
    }
    .with_features(request.features.clone());
    let file = IndexFile::from_lines(name.clone(), vec![line.clone()]).expect("a valid request makes a valid line");
    let parsed = IndexFile::parse(&name, &file.to_string()).expect("its line parses");
    assert_eq!(parsed.lines().next(), Some(&line));
    assert!(CrateName::new(&line.name).is_ok());
});
