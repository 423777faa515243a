use super::{redact, with_database, ServerError};

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
    assert_eq!(redact("postgres://u:secret@db/app"), "postgres://u:***@db/app");
    assert_eq!(redact("postgres://u@db/app"), "postgres://u@db/app");
}

#[test]
fn missing_binaries_say_how_to_get_a_server() {
    let message = ServerError::NoBinaries.to_string();
    assert!(message.contains("apt-get install postgresql"), "{message}");
    assert!(message.contains("TEST_DATABASE_URL"), "{message}");
}
