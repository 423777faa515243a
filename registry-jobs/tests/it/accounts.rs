//! Users, tokens, owners and search on both backends, and concurrent publishes of one new
//! crate.

use std::sync::Arc;

use registry_jobs::{Database, RegistryError, User, WithConnection};

use crate::fixtures::{request, Backend, Registry};

struct Token<'a>(&'a str);

impl WithConnection for Token<'_> {
    type Output = (String, User);
    fn run<C: registry_jobs::RegistryConnection>(
        self,
        conn: &mut C,
    ) -> Result<(String, User), RegistryError> {
        let token = registry_jobs::create_token(conn, self.0, "test")?;
        let user = registry_jobs::authenticate(conn, &token)?.expect("the new token works");
        Ok((token, user))
    }
}

struct PublishBy<'a>(&'a User, &'a str, &'a str);

impl WithConnection for PublishBy<'_> {
    type Output = registry_jobs::Published;
    fn run<C: registry_jobs::RegistryConnection>(
        self,
        conn: &mut C,
    ) -> Result<registry_jobs::Published, RegistryError> {
        registry_jobs::publish_by(conn, self.0, &request(self.1, self.2), Some("a crate"))
    }
}

fn user(database: &Database, login: &str) -> (String, User) {
    database.run(Token(login)).unwrap()
}

fn accounts(backend: Backend) {
    let registry = Registry::new(backend);
    let db = &registry.database;
    let (token, alice) = user(db, "alice");
    assert!(token.starts_with("rgt_") && token.len() == 68, "{token}");
    assert_eq!(db.authenticate(&token).unwrap(), Some(alice.clone()));
    assert_eq!(db.authenticate("rgt_not-a-token").unwrap(), None);
    assert_eq!(db.authenticate("no prefix").unwrap(), None);
    // A second token for the same user; both work.
    let (second, again) = user(db, "alice");
    assert_ne!(token, second);
    assert_eq!(again, alice);
    assert!(matches!(db.create_token("bad login!", "x"), Err(RegistryError::InvalidLogin { .. })));

    let (_, bob) = user(db, "bob");
    db.run(PublishBy(&alice, "shared-name", "1.0.0")).unwrap();
    assert!(matches!(
        db.run(PublishBy(&bob, "shared-name", "1.1.0")),
        Err(RegistryError::NotOwner { .. })
    ));
    assert!(matches!(
        db.set_yanked_by(&bob, "shared-name", "1.0.0", true),
        Err(RegistryError::NotOwner { .. })
    ));
    assert!(matches!(
        db.change_owners(&bob, "shared-name", &["bob".into()], true),
        Err(RegistryError::NotOwner { .. })
    ));
    assert!(matches!(
        db.change_owners(&alice, "shared-name", &["carol".into()], true),
        Err(RegistryError::UnknownUser { .. })
    ));
    db.change_owners(&alice, "shared-name", &["bob".into()], true).unwrap();
    db.change_owners(&alice, "shared-name", &["bob".into()], true).unwrap();
    let owners: Vec<String> =
        db.owners("shared_name").unwrap().into_iter().map(|u| u.login).collect();
    assert_eq!(owners, ["alice", "bob"]);
    db.run(PublishBy(&bob, "shared-name", "1.1.0")).unwrap();
    assert!(db.set_yanked_by(&bob, "shared-name", "1.1.0", true).unwrap().changed);
    db.change_owners(&bob, "shared-name", &["alice".into()], false).unwrap();
    assert!(matches!(
        db.change_owners(&bob, "shared-name", &["bob".into()], false),
        Err(RegistryError::LastOwner { .. })
    ));

    // Search: `-`, `_` and case alike; LIKE's wildcards are literal.
    db.run(PublishBy(&alice, "Other_Thing", "0.1.0")).unwrap();
    let found = db.search("SHARED_", 10).unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.crates[0].name, "shared-name");
    // 1.1.0 is yanked: the newest version that is not.
    assert_eq!(found.crates[0].max_version, "1.0.0");
    assert_eq!(found.crates[0].description.as_deref(), Some("a crate"));
    assert_eq!(db.search("%", 10).unwrap().total, 0);
    assert_eq!(db.search("", 1).unwrap().crates.len(), 1);
    assert_eq!(db.search("", 1).unwrap().total, 2);
}

#[test]
fn tokens_owners_and_search_on_postgres() {
    accounts(Backend::Postgres);
}

#[test]
fn tokens_owners_and_search_on_sqlite() {
    accounts(Backend::Sqlite);
}

/// Eight publishers create one crate at once: every version lands, the crate exists once,
/// and the one user owns it; the same version eight times lands once.
fn concurrent_publishes(backend: Backend) {
    let registry = Registry::new(backend);
    let db = Arc::new(registry.database.clone());
    let (_, alice) = user(&db, "alice");
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (db, alice) = (Arc::clone(&db), alice.clone());
            std::thread::spawn(move || db.run(PublishBy(&alice, "racy", &format!("1.0.{i}"))))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap().unwrap();
    }
    assert_eq!(db.owners("racy").unwrap(), std::slice::from_ref(&alice));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (db, alice) = (Arc::clone(&db), alice.clone());
            std::thread::spawn(move || db.run(PublishBy(&alice, "same", "2.0.0")))
        })
        .collect();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    for outcome in outcomes.iter().filter(|o| o.is_err()) {
        assert!(matches!(outcome, Err(RegistryError::VersionExists { .. })), "{outcome:?}");
    }
    assert_eq!(db.search("racy", 10).unwrap().crates[0].max_version, "1.0.7");
}

#[test]
fn concurrent_publishes_of_a_new_crate_on_postgres() {
    concurrent_publishes(Backend::Postgres);
}

#[test]
fn concurrent_publishes_of_a_new_crate_on_sqlite() {
    concurrent_publishes(Backend::Sqlite);
}
