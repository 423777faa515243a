//! The registry tables and the two connection types the operations run on.

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use index_git::{CrateName, FeatureMap, IndexDependency, IndexLine};

use crate::error::RegistryError;

/// The registry tables' PostgreSQL migrations (the job table's are `queue-diesel`'s).
pub const PG_REGISTRY_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The registry tables' SQLite migrations.
pub const SQLITE_REGISTRY_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

diesel::table! {
    crates (id) {
        id -> BigInt,
        name -> Text,
        canonical_name -> Text,
        description -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        login -> Text,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
    }
}

diesel::table! {
    crate_owners (crate_id, user_id) {
        crate_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::table! {
    versions (id) {
        id -> BigInt,
        crate_id -> BigInt,
        num -> Text,
        num_no_build -> Text,
        checksum -> Text,
        yanked -> Bool,
        dependencies -> Text,
        features -> Text,
        links -> Nullable<Text>,
        rust_version -> Nullable<Text>,
        pubtime -> Text,
    }
}

diesel::joinable!(versions -> crates (crate_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(crate_owners -> users (user_id));
diesel::joinable!(crate_owners -> crates (crate_id));
diesel::allow_tables_to_appear_in_same_query!(crates, versions, users, api_tokens, crate_owners);

/// A version row (named by the sealed query methods; not part of the public API).
#[allow(unreachable_pub, missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = versions)]
pub struct VersionRow {
    pub id: i64,
    pub crate_id: i64,
    pub num: String,
    pub num_no_build: String,
    pub checksum: String,
    pub yanked: bool,
    pub dependencies: String,
    pub features: String,
    pub links: Option<String>,
    pub rust_version: Option<String>,
    pub pubtime: String,
}

/// A new version row (named by the sealed query methods; not part of the public API).
#[allow(unreachable_pub, missing_docs)]
#[derive(Debug, Insertable)]
#[diesel(table_name = versions)]
pub struct NewVersion<'a> {
    pub crate_id: i64,
    pub num: &'a str,
    pub num_no_build: &'a str,
    pub checksum: &'a str,
    pub yanked: bool,
    pub dependencies: &'a str,
    pub features: &'a str,
    pub links: Option<&'a str>,
    pub rust_version: Option<&'a str>,
    pub pubtime: &'a str,
}

/// A connection the registry operations run on: PostgreSQL or SQLite. The operations take
/// the caller's connection so that they join the caller's transaction.
///
/// It extends [`queue_diesel::JobConnection`] (sealed, so implemented for exactly those
/// two), which gives the write transaction and the enqueue the operations use.
pub trait RegistryConnection: queue_diesel::JobConnection {
    /// Applies the job table's and the registry's pending migrations; returns the versions
    /// applied.
    fn run_migrations(&mut self) -> Result<Vec<String>, RegistryError>;
    /// `pg(self)` on PostgreSQL, `sqlite(self)` on SQLite (see [`Database::either`]).
    ///
    /// [`Database::either`]: crate::Database::either
    #[doc(hidden)]
    fn pick<T>(
        &mut self,
        pg: impl FnOnce(&mut PgConnection) -> T,
        sqlite: impl FnOnce(&mut SqliteConnection) -> T,
    ) -> T;
    #[doc(hidden)]
    fn find_crate(&mut self, canonical: &str) -> QueryResult<Option<(i64, String)>>;
    #[doc(hidden)]
    fn insert_crate(&mut self, name: &str, canonical: &str) -> QueryResult<Option<i64>>;
    #[doc(hidden)]
    fn find_version(
        &mut self,
        crate_id: i64,
        num_no_build: &str,
    ) -> QueryResult<Option<VersionRow>>;
    #[doc(hidden)]
    fn insert_version(&mut self, version: &NewVersion<'_>) -> QueryResult<()>;
    #[doc(hidden)]
    fn set_yanked(&mut self, version_id: i64, yanked: bool) -> QueryResult<()>;
    #[doc(hidden)]
    fn versions_of(&mut self, crate_id: i64) -> QueryResult<Vec<VersionRow>>;
    #[doc(hidden)]
    fn all_crates(&mut self) -> QueryResult<Vec<(i64, String)>>;
    #[doc(hidden)]
    fn set_description(&mut self, crate_id: i64, description: Option<&str>) -> QueryResult<()>;
    #[doc(hidden)]
    fn find_user(&mut self, login: &str) -> QueryResult<Option<(i64, String)>>;
    #[doc(hidden)]
    fn insert_user(&mut self, login: &str) -> QueryResult<i64>;
    #[doc(hidden)]
    fn insert_token(&mut self, user_id: i64, name: &str, token_hash: &str) -> QueryResult<()>;
    #[doc(hidden)]
    fn user_by_token(&mut self, token_hash: &str) -> QueryResult<Option<(i64, String)>>;
    #[doc(hidden)]
    fn owners_of(&mut self, crate_id: i64) -> QueryResult<Vec<(i64, String)>>;
    #[doc(hidden)]
    fn add_owner(&mut self, crate_id: i64, user_id: i64) -> QueryResult<()>;
    #[doc(hidden)]
    fn remove_owner(&mut self, crate_id: i64, user_id: i64) -> QueryResult<()>;
    #[doc(hidden)]
    fn search_crates(&mut self, pattern: &str, limit: i64) -> QueryResult<(Vec<CrateRow>, i64)>;
}

/// A crate found by a search: id, name, description (named by the sealed query methods;
/// not part of the public API).
#[allow(unreachable_pub)]
pub type CrateRow = (i64, String, Option<String>);

macro_rules! common_queries {
    () => {
        fn find_crate(&mut self, canonical: &str) -> QueryResult<Option<(i64, String)>> {
            crates::table
                .filter(crates::canonical_name.eq(canonical))
                .select((crates::id, crates::name))
                .first(self)
                .optional()
        }

        /// `None` when a crate with this canonical name exists (created concurrently).
        fn insert_crate(&mut self, name: &str, canonical: &str) -> QueryResult<Option<i64>> {
            diesel::insert_into(crates::table)
                .values((crates::name.eq(name), crates::canonical_name.eq(canonical)))
                .on_conflict(crates::canonical_name)
                .do_nothing()
                .returning(crates::id)
                .get_result(self)
                .optional()
        }

        fn find_version(
            &mut self,
            crate_id: i64,
            num_no_build: &str,
        ) -> QueryResult<Option<VersionRow>> {
            versions::table
                .filter(versions::crate_id.eq(crate_id))
                .filter(versions::num_no_build.eq(num_no_build))
                .select(VersionRow::as_select())
                .first(self)
                .optional()
        }

        fn insert_version(&mut self, version: &NewVersion<'_>) -> QueryResult<()> {
            diesel::insert_into(versions::table).values(version).execute(self).map(|_| ())
        }

        fn set_yanked(&mut self, version_id: i64, yanked: bool) -> QueryResult<()> {
            diesel::update(versions::table.find(version_id))
                .set(versions::yanked.eq(yanked))
                .execute(self)
                .map(|_| ())
        }

        fn versions_of(&mut self, crate_id: i64) -> QueryResult<Vec<VersionRow>> {
            versions::table
                .filter(versions::crate_id.eq(crate_id))
                .order(versions::id.asc())
                .select(VersionRow::as_select())
                .load(self)
        }

        fn all_crates(&mut self) -> QueryResult<Vec<(i64, String)>> {
            crates::table.select((crates::id, crates::name)).order(crates::id.asc()).load(self)
        }

        fn set_description(&mut self, crate_id: i64, description: Option<&str>) -> QueryResult<()> {
            diesel::update(crates::table.find(crate_id))
                .set(crates::description.eq(description))
                .execute(self)
                .map(|_| ())
        }

        fn find_user(&mut self, login: &str) -> QueryResult<Option<(i64, String)>> {
            users::table
                .filter(users::login.eq(login))
                .select((users::id, users::login))
                .first(self)
                .optional()
        }

        fn insert_user(&mut self, login: &str) -> QueryResult<i64> {
            diesel::insert_into(users::table)
                .values(users::login.eq(login))
                .returning(users::id)
                .get_result(self)
        }

        fn insert_token(&mut self, user_id: i64, name: &str, token_hash: &str) -> QueryResult<()> {
            diesel::insert_into(api_tokens::table)
                .values((
                    api_tokens::user_id.eq(user_id),
                    api_tokens::name.eq(name),
                    api_tokens::token_hash.eq(token_hash),
                ))
                .execute(self)
                .map(|_| ())
        }

        fn user_by_token(&mut self, token_hash: &str) -> QueryResult<Option<(i64, String)>> {
            api_tokens::table
                .inner_join(users::table)
                .filter(api_tokens::token_hash.eq(token_hash))
                .select((users::id, users::login))
                .first(self)
                .optional()
        }

        fn owners_of(&mut self, crate_id: i64) -> QueryResult<Vec<(i64, String)>> {
            crate_owners::table
                .inner_join(users::table)
                .filter(crate_owners::crate_id.eq(crate_id))
                .order(users::login.asc())
                .select((users::id, users::login))
                .load(self)
        }

        fn add_owner(&mut self, crate_id: i64, user_id: i64) -> QueryResult<()> {
            diesel::insert_into(crate_owners::table)
                .values((crate_owners::crate_id.eq(crate_id), crate_owners::user_id.eq(user_id)))
                .on_conflict_do_nothing()
                .execute(self)
                .map(|_| ())
        }

        fn remove_owner(&mut self, crate_id: i64, user_id: i64) -> QueryResult<()> {
            diesel::delete(
                crate_owners::table
                    .filter(crate_owners::crate_id.eq(crate_id))
                    .filter(crate_owners::user_id.eq(user_id)),
            )
            .execute(self)
            .map(|_| ())
        }

        fn search_crates(
            &mut self,
            pattern: &str,
            limit: i64,
        ) -> QueryResult<(Vec<CrateRow>, i64)> {
            let found = crates::table
                .filter(crates::canonical_name.like(pattern).escape('\\'))
                .order(crates::canonical_name.asc())
                .limit(limit)
                .select((crates::id, crates::name, crates::description))
                .load(self)?;
            let total = crates::table
                .filter(crates::canonical_name.like(pattern).escape('\\'))
                .count()
                .get_result(self)?;
            Ok((found, total))
        }
    };
}

impl RegistryConnection for PgConnection {
    fn pick<T>(
        &mut self,
        pg: impl FnOnce(&mut PgConnection) -> T,
        _sqlite: impl FnOnce(&mut SqliteConnection) -> T,
    ) -> T {
        pg(self)
    }

    fn run_migrations(&mut self) -> Result<Vec<String>, RegistryError> {
        let mut applied = queue_diesel::migrate(self)?;
        let registry = self
            .run_pending_migrations(PG_REGISTRY_MIGRATIONS)
            .map_err(|e| RegistryError::Migration(e.to_string()))?;
        applied.extend(registry.iter().map(ToString::to_string));
        Ok(applied)
    }

    common_queries!();
}

impl RegistryConnection for SqliteConnection {
    fn pick<T>(
        &mut self,
        _pg: impl FnOnce(&mut PgConnection) -> T,
        sqlite: impl FnOnce(&mut SqliteConnection) -> T,
    ) -> T {
        sqlite(self)
    }

    fn run_migrations(&mut self) -> Result<Vec<String>, RegistryError> {
        let mut applied = queue_diesel::migrate(self)?;
        let registry = self
            .run_pending_migrations(SQLITE_REGISTRY_MIGRATIONS)
            .map_err(|e| RegistryError::Migration(e.to_string()))?;
        applied.extend(registry.iter().map(ToString::to_string));
        Ok(applied)
    }

    common_queries!();
}

/// The index line of a stored version.
pub(crate) fn index_line(krate: &str, row: &VersionRow) -> Result<IndexLine, RegistryError> {
    let corrupt = |source| RegistryError::CorruptRow {
        krate: krate.to_owned(),
        vers: row.num.clone(),
        source,
    };
    let deps: Vec<IndexDependency> = serde_json::from_str(&row.dependencies).map_err(corrupt)?;
    let features: FeatureMap = serde_json::from_str(&row.features).map_err(corrupt)?;
    Ok(IndexLine {
        name: krate.to_owned(),
        vers: row.num.clone(),
        deps,
        cksum: row.checksum.clone(),
        features: FeatureMap::new(),
        features2: None,
        yanked: row.yanked,
        links: row.links.clone(),
        rust_version: row.rust_version.clone(),
        pubtime: Some(row.pubtime.clone()),
        v: None,
    }
    .with_features(features))
}

/// What the database says a crate's index file must hold: its name as published and its
/// lines in publish order, or `None` when the crate does not exist.
pub fn expected_lines<C: RegistryConnection>(
    conn: &mut C,
    name: &CrateName,
) -> Result<Option<(CrateName, Vec<IndexLine>)>, RegistryError> {
    let Some((crate_id, real_name)) = conn.find_crate(&name.canonical())? else { return Ok(None) };
    let rows = conn.versions_of(crate_id)?;
    let lines =
        rows.iter().map(|row| index_line(&real_name, row)).collect::<Result<Vec<_>, _>>()?;
    Ok(Some((CrateName::new(&real_name)?, lines)))
}
