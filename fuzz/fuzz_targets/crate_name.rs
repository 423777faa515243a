//! `CrateName::new` on any string: never panics, and an accepted name can only form a path
//! inside the index.
#![no_main]

use index_git::CrateName;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let Ok(name) = CrateName::new(input) else { return };
    let path = name.index_path();
    assert!(!path.starts_with('/') && !path.contains(".."), "{path}");
    assert!(path.split('/').all(|part| !part.is_empty() && part != "."), "{path}");
    assert!(path.ends_with(&input.to_ascii_lowercase()), "{path} for {input}");
    assert!(path.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/')));
    assert_eq!(CrateName::new(name.as_str()).as_ref(), Ok(&name));
    let canonical = name.canonical();
    assert_eq!(canonical, input.to_ascii_lowercase().replace('-', "_"));
});
