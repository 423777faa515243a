//! The front-end operations: validation, typed errors, one transaction with the job.

use index_git::IndexDependency;
use queue_core::Storage as _;
use registry_jobs::{publish, RegistryConnection, RegistryError, WithConnection};

use crate::fixtures::{request, Backend, Registry};

#[test]
fn bad_input_gets_a_typed_error_naming_it() {
    let registry = Registry::new(Backend::Sqlite);
    let errors: Vec<String> = {
        registry.database.publish(&request("foo-bar", "1.0.0")).unwrap();
        let mut bad_dep = request("dep-user", "1.0.0");
        bad_dep.deps.push(IndexDependency::normal("serde", "not a req"));
        let mut bad_cksum = request("sum", "1.0.0");
        bad_cksum.cksum = "XYZ".into();
        vec![
            registry.database.publish(&request("../etc", "1.0.0")).unwrap_err(),
            registry.database.publish(&request("foo", "one")).unwrap_err(),
            registry.database.publish(&bad_dep).unwrap_err(),
            registry.database.publish(&bad_cksum).unwrap_err(),
            registry.database.publish(&request("foo-bar", "1.0.0")).unwrap_err(),
            registry.database.publish(&request("foo-bar", "1.0.0+build.5")).unwrap_err(),
            registry.database.publish(&request("foo_bar", "2.0.0")).unwrap_err(),
            registry.database.set_yanked("nope", "1.0.0", true).unwrap_err(),
            registry.database.set_yanked("foo-bar", "9.9.9", true).unwrap_err(),
        ]
        .into_iter()
        .map(|e| e.to_string())
        .collect()
    };
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
    registry.database.publish(&request("foo", "1.0.0")).unwrap();
    let first = registry.database.set_yanked("foo", "1.0.0", true).unwrap();
    assert!(first.changed && first.job.is_some());
    let second = registry.database.set_yanked("foo", "1.0.0", true).unwrap();
    assert!(!second.changed && second.job.is_none(), "nothing queued");
    let unyanked = registry.database.set_yanked("foo", "1.0.0", false).unwrap();
    assert!(unyanked.changed);
    assert!(!registry.database.set_yanked("foo", "1.0.0", false).unwrap().changed);
    // publish, yank, unyank, and one sparse index job: the later ones were coalesced with
    // the pending one.
    assert_eq!(registry.storage.count_pending().unwrap(), 4, "publish, yank, unyank, sparse");
}

fn rolled_back_publish_leaves_nothing(backend: Backend) {
    let registry = Registry::new(backend);
    // A request's own transaction on its own connection: the publish, then a failure.
    struct PublishThenFail;
    impl WithConnection for PublishThenFail {
        type Output = ();
        fn run<C: RegistryConnection>(self, conn: &mut C) -> Result<(), RegistryError> {
            conn.write_transaction(|conn| {
                let published = publish(conn, &request("ghost", "1.0.0"))?;
                assert!(published.job.is_some());
                Err(RegistryError::UnknownCrate("the request failed later".into()))
            })
        }
    }
    let result = registry.database.run(PublishThenFail);
    assert!(result.is_err());
    assert_eq!(registry.storage.count_pending().unwrap(), 0, "no job survived the rollback");
    let expected = registry.ctx.expected(&index_git::CrateName::new("ghost").unwrap()).unwrap();
    assert_eq!(expected, None, "no crate survived the rollback");
    // The same publish committed leaves both.
    registry.database.publish(&request("ghost", "1.0.0")).unwrap();
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
