//! The manifest parser on any text, then the publish checks: whatever they accept makes an
//! index line that parses back as the same line.
#![no_main]

use index_git::{CrateName, IndexFile, IndexLine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(request) = registry_jobs::read_manifest(text, &"0".repeat(64)) else { return };
    let Ok((name, vers)) = request.validate() else { return };
    let line = IndexLine {
        name: name.to_string(),
        vers: vers.to_string(),
        deps: request.deps.clone(),
        cksum: request.cksum.clone(),
        features: Default::default(),
        features2: None,
        yanked: false,
        links: request.links.clone(),
        rust_version: request.rust_version.clone(),
        pubtime: None,
        v: None,
    }
    .with_features(request.features.clone());
    let file = IndexFile::from_lines(name.clone(), vec![line.clone()]).expect("a valid request makes a valid line");
    let parsed = IndexFile::parse(&name, &file.to_string()).expect("its line parses");
    assert_eq!(parsed.lines().next(), Some(&line));
    assert!(CrateName::new(&line.name).is_ok());
});
