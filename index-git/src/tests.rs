use std::collections::BTreeMap;

use crate::{
    same_version, CrateName, DependencyKind, Edit, FileError, IndexDependency, IndexFile, IndexLine,
};

fn line(name: &str, vers: &str) -> IndexLine {
    IndexLine::new(name, vers, "a".repeat(64))
}

fn name(s: &str) -> CrateName {
    CrateName::new(s).unwrap()
}

#[test]
fn names_are_validated_with_a_reason_per_rule() {
    let errors: Vec<String> = [
        "",
        "1abc",
        "-x",
        "../x",
        "/etc/passwd",
        "a\0b",
        "naïve",
        "foo bar",
        "nul",
        "COM1",
        &"a".repeat(65),
    ]
    .iter()
    .map(|n| CrateName::new(n).unwrap_err().to_string())
    .collect();
    insta::assert_snapshot!(errors.join("\n"), @r#"
    invalid crate name "": a name must not be empty
    invalid crate name "1abc": the first character must be an ASCII letter, found '1'
    invalid crate name "-x": the first character must be an ASCII letter, found '-'
    invalid crate name "../x": the first character must be an ASCII letter, found '.'
    invalid crate name "/etc/passwd": the first character must be an ASCII letter, found '/'
    invalid crate name "a\0b": only ASCII letters, digits, '-' and '_' are allowed, found '\0'
    invalid crate name "naïve": only ASCII letters, digits, '-' and '_' are allowed, found 'ï'
    invalid crate name "foo bar": only ASCII letters, digits, '-' and '_' are allowed, found ' '
    invalid crate name "nul": it is a reserved device name on Windows
    invalid crate name "COM1": it is a reserved device name on Windows
    invalid crate name "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": at most 64 characters are allowed, found 65
    "#);
    assert!(CrateName::new(&"a".repeat(64)).is_ok());
    assert!(CrateName::new("a-b_C9").is_ok());
    assert!(CrateName::new("nullable").is_ok(), "only the exact device names are refused");
}

#[test]
fn index_paths_follow_cargo() {
    let paths: Vec<String> = ["a", "AB", "abc", "Serde", "my-crate", "x_y"]
        .iter()
        .map(|n| name(n).index_path())
        .collect();
    assert_eq!(paths, ["1/a", "2/ab", "3/a/abc", "se/rd/serde", "my/-c/my-crate", "3/x/x_y"]);
    assert_eq!(name("Foo-Bar").canonical(), name("foo_bar").canonical());
}

#[test]
fn names_deserialize_only_when_valid() {
    assert!(serde_json::from_str::<CrateName>("\"serde\"").is_ok());
    let err = serde_json::from_str::<CrateName>("\"../../etc\"").unwrap_err().to_string();
    assert!(err.contains("first character must be an ASCII letter"), "{err}");
}

#[test]
fn versions_compare_without_build_metadata() {
    assert!(same_version("1.0.7", "1.0.7+x"));
    assert!(same_version("1.0.7+a", "1.0.7+b"));
    assert!(!same_version("1.0.7", "1.0.7-rc.1"));
    assert!(!same_version("1.0.7", "1.0.8"));
}

#[test]
fn a_full_line_serializes_like_crates_io() {
    let mut features = BTreeMap::new();
    features.insert("default".to_string(), vec!["std".to_string()]);
    features.insert("std".to_string(), vec![]);
    features.insert("serde".to_string(), vec!["dep:serde".to_string()]);
    features.insert("json".to_string(), vec!["serde".to_string(), "serde_json?/std".to_string()]);
    features.insert("all".to_string(), vec!["json".to_string()]);
    let mut l = line("demo", "1.2.3").with_features(features);
    l.deps = vec![
        IndexDependency {
            name: "serde".into(),
            req: "^1.0".into(),
            features: vec!["derive".into()],
            optional: true,
            default_features: true,
            target: None,
            kind: Some(DependencyKind::Normal),
            registry: None,
            package: None,
        },
        IndexDependency {
            name: "winapi2".into(),
            req: "^0.3".into(),
            features: vec![],
            optional: false,
            default_features: false,
            target: Some("cfg(windows)".into()),
            kind: Some(DependencyKind::Dev),
            registry: None,
            package: Some("winapi".into()),
        },
    ];
    l.links = Some("z".into());
    l.rust_version = Some("1.70".into());
    l.pubtime = Some("2026-11-29T10:00:00Z".into());
    insta::assert_snapshot!(l.to_json(), @r#"{"name":"demo","vers":"1.2.3","deps":[{"name":"serde","req":"^1.0","features":["derive"],"optional":true,"default_features":true,"target":null,"kind":"normal"},{"name":"winapi2","req":"^0.3","features":[],"optional":false,"default_features":false,"target":"cfg(windows)","kind":"dev","package":"winapi"}],"cksum":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","features":{"default":["std"],"std":[]},"features2":{"all":["json"],"json":["serde","serde_json?/std"],"serde":["dep:serde"]},"yanked":false,"links":"z","rust_version":"1.70","pubtime":"2026-11-29T10:00:00Z","v":2}"#);
}

#[test]
fn plain_features_need_no_features2() {
    let mut features = BTreeMap::new();
    features.insert("default".to_string(), vec!["std".to_string()]);
    let l = line("demo", "1.0.0").with_features(features);
    assert_eq!(l.features2, None);
    assert_eq!(l.v, None);
    assert!(!l.to_json().contains("features2"));
}

#[test]
fn files_from_other_writers_round_trip_byte_for_byte() {
    let text = concat!(
        r#"{"name":"old","vers":"0.1.0","deps":[],"cksum":"00","features":{},"yanked":null,"links":null}"#,
        "\n",
        r#"{"name":"old","vers":"0.2.0","deps":[],"cksum":"01","features":{},"yanked": false,"future_field":{"x":1}}"#,
        "\n",
    );
    let file = IndexFile::parse(&name("old"), text).unwrap();
    assert_eq!(file.to_string(), text);
    let mut yanked = file.clone();
    yanked.set_yanked("0.2.0", true).unwrap();
    let out = yanked.to_string();
    assert!(
        out.contains(r#""yanked": true,"future_field":{"x":1}"#),
        "only the value changed: {out}"
    );
    yanked.set_yanked("0.1.0", true).unwrap();
    assert!(yanked.to_string().starts_with(r#"{"name":"old","vers":"0.1.0","deps":[],"cksum":"00","features":{},"yanked":true,"links":null}"#));
}

#[test]
fn put_is_idempotent_and_refuses_a_different_line() {
    let text = Edit::Put(line("foo", "1.0.0")).apply(None).unwrap().unwrap();
    assert_eq!(Edit::Put(line("foo", "1.0.0")).apply(Some(&text)).unwrap().unwrap(), text);
    // Build metadata is ignored when comparing: 1.0.0+build is 1.0.0 again, with other text.
    let err = Edit::Put(line("foo", "1.0.0+build")).apply(Some(&text)).unwrap_err();
    assert!(matches!(err, FileError::Conflict { .. }), "{err}");
    let mut different = line("foo", "1.0.0");
    different.cksum = "b".repeat(64);
    let err = Edit::Put(different).apply(Some(&text)).unwrap_err();
    assert!(matches!(err, FileError::Conflict { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "foo 1.0.0 is already in the index with different content; only `yanked` may change"
    );
    let yanked_text = Edit::SetYanked { name: name("foo"), vers: "1.0.0".into(), yanked: true }
        .apply(Some(&text))
        .unwrap()
        .unwrap();
    let replayed = Edit::Put(line("foo", "1.0.0")).apply(Some(&yanked_text)).unwrap().unwrap();
    assert_eq!(replayed, yanked_text, "a publish that runs again does not unyank");
}

#[test]
fn lines_for_another_crate_or_bad_versions_are_refused() {
    let err = Edit::Replace { name: name("foo"), lines: vec![line("bar", "1.0.0")] }
        .apply(None)
        .unwrap_err();
    assert_eq!(err.to_string(), r#"index line for crate "bar" cannot go into the file of foo"#);
    let err = Edit::Put(line("foo", "one")).apply(None).unwrap_err();
    assert!(err.to_string().starts_with(r#"invalid version "one" of crate foo"#), "{err}");
    let err = Edit::Put(line("../foo", "1.0.0")).apply(None).unwrap_err();
    assert!(matches!(err, FileError::Name(_)), "{err}");
    let err = Edit::Replace {
        name: name("foo"),
        lines: vec![line("foo", "1.0.0"), line("foo", "1.0.0+x")],
    }
    .apply(None)
    .unwrap_err();
    assert_eq!(err.to_string(), "foo 1.0.0+x appears twice");
}

#[test]
fn yank_of_a_missing_version_is_an_error_and_replace_or_delete_empties() {
    let text = Edit::Put(line("foo", "1.0.0")).apply(None).unwrap().unwrap();
    let err = Edit::SetYanked { name: name("foo"), vers: "2.0.0".into(), yanked: true }
        .apply(Some(&text))
        .unwrap_err();
    assert_eq!(err.to_string(), "foo 2.0.0 is not in the index");
    assert_eq!(
        Edit::Replace { name: name("foo"), lines: vec![] }.apply(Some(&text)).unwrap(),
        None
    );
    assert_eq!(Edit::Delete { name: name("foo") }.apply(Some(&text)).unwrap(), None);
    let same = Edit::SetYanked { name: name("foo"), vers: "1.0.0".into(), yanked: false }
        .apply(Some(&text))
        .unwrap()
        .unwrap();
    assert_eq!(same, text, "unyanking an unyanked version changes nothing");
}

#[test]
fn edits_describe_themselves_for_commit_messages() {
    let edits = [
        Edit::Put(line("foo", "1.2.3")),
        Edit::SetYanked { name: name("foo"), vers: "1.2.3".into(), yanked: true },
        Edit::SetYanked { name: name("foo"), vers: "1.2.3".into(), yanked: false },
        Edit::Replace { name: name("foo"), lines: vec![] },
        Edit::Delete { name: name("foo") },
    ];
    insta::assert_snapshot!(crate::commit_message(&edits), @r"
    Update 5 index entries

    Publish foo 1.2.3
    Yank foo 1.2.3
    Unyank foo 1.2.3
    Sync foo
    Delete foo
    ");
    assert_eq!(crate::commit_message(&edits[..1]), "Publish foo 1.2.3");
}
