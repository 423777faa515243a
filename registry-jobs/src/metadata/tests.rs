#![allow(clippy::unwrap_used)]

use index_git::{DependencyKind, FeatureMap, IndexDependency};

use super::PublishRequest;
use super::{validate_metadata, validate_target, MetadataError};

fn dep(name: &str, optional: bool) -> IndexDependency {
    IndexDependency {
        name: name.into(),
        req: "^1".into(),
        features: vec![],
        optional,
        default_features: true,
        target: None,
        kind: Some(DependencyKind::Normal),
        registry: None,
        package: None,
    }
}

fn request(deps: Vec<IndexDependency>, features: &[(&str, &[&str])]) -> PublishRequest {
    let mut map = FeatureMap::new();
    for (name, values) in features {
        map.insert((*name).into(), values.iter().map(|v| (*v).to_owned()).collect());
    }
    PublishRequest {
        name: "demo".into(),
        vers: "1.0.0".into(),
        deps,
        features: map,
        links: None,
        rust_version: None,
        cksum: "0".repeat(64),
    }
}

#[test]
fn what_cargo_writes_is_accepted() {
    let mut serde = dep("serde", true);
    serde.features = vec!["derive".into(), "std".into()];
    serde.target =
        Some(r#"cfg(all(unix, not(target_os = "macos"), any(feature = "x", test)))"#.into());
    let mut json = dep("json", true);
    json.package = Some("serde_json".into());
    let mut r = request(
        vec![serde, json, dep("libc", false)],
        &[
            ("default", &["std"]),
            ("std", &["serde?/std", "libc/extra_traits"]),
            ("json", &["dep:json"]),
            ("serde", &["dep:serde"]),
            ("all-the_things+1.0", &["default", "json", "serde"]),
            ("_private", &[]),
        ],
    );
    r.rust_version = Some("1.70".into());
    r.links = Some("ring_core_0_17.8".into());
    validate_metadata(&r).unwrap();
    r.rust_version = Some("1.70.1".into());
    validate_metadata(&r).unwrap();
    for target in [
        "x86_64-unknown-linux-gnu",
        "cfg(windows)",
        "cfg( any ( unix , windows , ) )",
        "thumbv7em-none-eabihf",
    ] {
        validate_target(target).unwrap();
    }
}

#[test]
fn each_bad_value_gets_its_own_error() {
    let check = |r: PublishRequest| validate_metadata(&r).unwrap_err();

    let mut r = request(vec![], &[]);
    r.rust_version = Some("1.70-beta".into());
    assert!(matches!(check(r.clone()), MetadataError::RustVersion { .. }));
    for bad in ["1", "1.70.1.2", "01.70", "1..2", "", "1.70\n"] {
        r.rust_version = Some(bad.into());
        assert!(matches!(check(r.clone()), MetadataError::RustVersion { .. }), "{bad:?}");
    }

    let mut r = request(vec![], &[]);
    for bad in ["", "a b", "x\"y", "../z", &"l".repeat(65)] {
        r.links = Some(bad.into());
        assert!(matches!(check(r.clone()), MetadataError::Links { .. }), "{bad:?}");
    }

    for bad in ["", "-x", ".x", "a/b/c", "é", "a b", "x\"}"] {
        let err = check(request(vec![], &[(bad, &[])]));
        assert!(matches!(err, MetadataError::FeatureName { .. }), "{bad:?}: {err}");
    }
    let err = check(request(vec![], &[(&"f".repeat(101), &[])]));
    assert!(matches!(err, MetadataError::FeatureName { .. }), "{err}");

    for bad in ["dep:", "dep:../x", "a//b", "x?/", "?/y", "\"", ""] {
        let err = check(request(vec![dep("x", true)], &[("f", &[bad])]));
        assert!(matches!(err, MetadataError::FeatureValue { .. }), "{bad:?}: {err}");
    }
    let err = check(request(vec![dep("x", false)], &[("f", &["dep:x"])]));
    assert_eq!(
        err.to_string(),
        "feature \"f\" refers to \"dep:x\", but \"x\" is not an optional dependency"
    );
    let err = check(request(vec![], &[("f", &["nothere/std"])]));
    assert!(matches!(err, MetadataError::FeatureDependency { .. }), "{err}");
    let err = check(request(vec![dep("x", false)], &[("f", &["x?/std"])]));
    assert!(matches!(err, MetadataError::FeatureDependency { .. }), "{err}");
    let err = check(request(vec![], &[("f", &["g"])]));
    assert!(matches!(err, MetadataError::FeatureDependency { .. }), "{err}");

    let mut d = dep("x", false);
    d.target = Some("cfg(unix".into());
    for bad in [
        "cfg(unix",
        "cfg()",
        "cfg(not(a, b))",
        "cfg(a = b)",
        "cfg(a = \"\\\")",
        "a/b",
        "",
        "cfg(all(a,,b))",
    ] {
        d.target = Some(bad.into());
        let err = check(request(vec![d.clone()], &[]));
        assert!(matches!(err, MetadataError::Target { .. }), "{bad:?}: {err}");
    }
    let deep = format!("cfg({}unix{})", "not(".repeat(40), ")".repeat(40));
    d.target = Some(deep);
    assert!(matches!(check(request(vec![d], &[])), MetadataError::Target { .. }));

    let mut d = dep("x", false);
    d.package = Some("../evil".into());
    assert!(matches!(check(request(vec![d], &[])), MetadataError::PackageRename { .. }));
    assert!(matches!(
        check(request(vec![dep("a b", false)], &[])),
        MetadataError::DependencyName(_)
    ));
    let mut d = dep("x", false);
    d.features = vec!["no spaces".into()];
    assert!(matches!(check(request(vec![d], &[])), MetadataError::DependencyFeature { .. }));
    let mut d = dep("x", false);
    d.registry = Some("not a url".into());
    assert!(matches!(check(request(vec![d], &[])), MetadataError::Registry { .. }));

    let mut r = request(vec![], &[]);
    r.vers = format!("1.0.0-{}", "a".repeat(80));
    assert!(matches!(check(r), MetadataError::VersionTooLong { .. }));
    let many: Vec<_> = (0..501).map(|i| dep(&format!("d{i}"), false)).collect();
    assert!(matches!(check(request(many, &[])), MetadataError::TooManyDependencies { count: 501 }));
}
