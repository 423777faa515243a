use super::{with_database, ServerError};
use crate::{DatabaseUrl, Error, PgConfig};

#[test]
fn database_is_replaced_and_parameters_kept() {
    assert_eq!(
        with_database("postgres://postgres@localhost:5432/postgres?host=/tmp/x", "t_1"),
        "postgres://postgres@localhost:5432/t_1?host=/tmp/x"
    );
    assert_eq!(
        with_database("postgres://u:p@db.example:6543/app", "t_2"),
        "postgres://u:p@db.example:6543/t_2"
    );
    assert_eq!(with_database("postgres://u@db", "t_3"), "postgres://u@db/t_3");
}

#[test]
fn passwords_are_not_printed() {
    let err = DatabaseUrl::parse("postgress://registry:s3cret@db/x").unwrap_err();
    assert!(matches!(err, Error::UnsupportedUrl(_)));
    assert!(!err.to_string().contains("s3cret") && !format!("{err:?}").contains("s3cret"), "{err}");
    assert!(err.to_string().contains("postgress://***@db/x"), "{err}");
    let url = DatabaseUrl::parse("postgres://u:s3cret@h1:5432,h2:5432/db").unwrap();
    assert_eq!(format!("{url:?}"), "Postgres(\"postgres://***@h1:5432,h2:5432/db\")");
    let config = PgConfig::new("postgres://u@db/app?password=s3cret");
    assert!(!format!("{config:?}").contains("s3cret"), "{config:?}");
}

#[test]
fn missing_binaries_say_how_to_get_a_server() {
    let message = ServerError::NoBinaries.to_string();
    assert!(message.contains("apt-get install postgresql"), "{message}");
    assert!(message.contains("TEST_DATABASE_URL"), "{message}");
}
