//! The front-end operations: validation, typed errors, one transaction with the job.

use index_git::{DependencyKind, IndexDependency};
use queue_core::Storage as _;
use registry_jobs::{publish, unyank, yank, RegistryError};

use crate::fixtures::{request, with_conn, Backend, Registry};

#[test]
fn bad_input_gets_a_typed_error_naming_it() {
    let registry = Registry::new(Backend::Sqlite);
    let errors: Vec<String> = with_conn!(registry, |conn| {
        publish(conn, &request("foo-bar", "1.0.0")).unwrap();
        let mut bad_dep = request("dep-user", "1.0.0");
        bad_dep.deps.push(IndexDependency {
            name: "serde".into(),
            req: "not a req".into(),
            features: vec![],
            optional: false,
            default_features: true,
            target: None,
            kind: Some(DependencyKind::Normal),
            registry: None,
            package: None,
        });
        let mut bad_cksum = request("sum", "1.0.0");
        bad_cksum.cksum = "XYZ".into();
        vec![
            publish(conn, &request("../etc", "1.0.0")).unwrap_err(),
            publish(conn, &request("foo", "one")).unwrap_err(),
            publish(conn, &bad_dep).unwrap_err(),
            publish(conn, &bad_cksum).unwrap_err(),
            publish(conn, &request("foo-bar", "1.0.0")).unwrap_err(),
            publish(conn, &request("foo-bar", "1.0.0+build.5")).unwrap_err(),
            publish(conn, &request("foo_bar", "2.0.0")).unwrap_err(),
            yank(conn, "nope", "1.0.0").unwrap_err(),
            yank(conn, "foo-bar", "9.9.9").unwrap_err(),
        ]
        .into_iter()
        .map(|e| e.to_string())
        .collect()
    });
    insta::assert_snapshot!(errors.join("\n"), @r#"
    invalid crate name "../etc": the first character must be an ASCII letter, found '.'
    invalid version "one": unexpected character 'o' while parsing major version number
    invalid version requirement "not a req" for dependency serde: unexpected character 'n' while parsing major version number
    checksum "XYZ" of sum 1.0.0 is not 64 lowercase hex digits
    foo-bar 1.0.0 already exists (published as 1.0.0)
    foo-bar 1.0.0+build.5 already exists (published as 1.0.0)
    crate name "foo_bar" clashes with the existing crate "foo-bar" ('-' and '_' and letter case do not make names distinct)
    crate nope does not exist
    foo-bar 9.9.9 does not exist
    "#);
    assert_eq!(
        registry.storage.count_pending().unwrap(),
        2,
        "only the good publish queued jobs (git and sparse)"
    );
}

#[test]
fn yanking_twice_changes_nothing_the_second_time() {
    let registry = Registry::new(Backend::Sqlite);
    with_conn!(registry, |conn| {
        publish(conn, &request("foo", "1.0.0")).unwrap();
        let first = yank(conn, "foo", "1.0.0").unwrap();
        assert!(first.changed && first.job.is_some());
        let second = yank(conn, "foo", "1.0.0").unwrap();
        assert!(!second.changed && second.job.is_none(), "nothing queued");
        let unyanked = unyank(conn, "foo", "1.0.0").unwrap();
        assert!(unyanked.changed);
        assert!(!unyank(conn, "foo", "1.0.0").unwrap().changed);
    });
    // publish, yank, unyank, and one sparse index job: the later ones were coalesced with
    // the pending one.
    assert_eq!(registry.storage.count_pending().unwrap(), 4, "publish, yank, unyank, sparse");
}

fn rolled_back_publish_leaves_nothing(backend: Backend) {
    let registry = Registry::new(backend);
    let result: Result<(), RegistryError> = with_conn!(registry, |conn| {
        use diesel::Connection as _;
        conn.transaction(|conn| {
            let published = publish(conn, &request("ghost", "1.0.0"))?;
            assert!(published.job.is_some());
            Err(RegistryError::UnknownCrate("the request failed later".into()))
        })
    });
    assert!(result.is_err());
    assert_eq!(registry.storage.count_pending().unwrap(), 0, "no job survived the rollback");
    let expected = registry.ctx.expected(&index_git::CrateName::new("ghost").unwrap()).unwrap();
    assert_eq!(expected, None, "no crate survived the rollback");
    // The same publish committed leaves both.
    with_conn!(registry, |conn| publish(conn, &request("ghost", "1.0.0")).unwrap());
    assert_eq!(registry.storage.count_pending().unwrap(), 2, "git and sparse index jobs");
}

#[test]
fn pg_rolled_back_publish_leaves_no_version_and_no_job() {
    rolled_back_publish_leaves_nothing(Backend::Postgres);
}

#[test]
fn sqlite_rolled_back_publish_leaves_no_version_and_no_job() {
    rolled_back_publish_leaves_nothing(Backend::Sqlite);
}
