use super::{redact, Redacted};

#[test]
fn user_information_goes_whatever_the_scheme() {
    let cases = [
        ("postgres://registry:secret@db/x", "postgres://***@db/x"),
        ("postgress://registry:secret@db/x", "postgress://***@db/x"),
        ("postgres://u:pw@h1:5432,h2:5432/db", "postgres://***@h1:5432,h2:5432/db"),
        ("https://bot:TOKEN@git.example.com/index.git", "https://***@git.example.com/index.git"),
        ("https://TOKEN@github.com/o/r", "https://***@github.com/o/r"),
        ("postgres://u:pa/ss@word@host/db", "postgres://***@host/db"),
        ("git+ssh://git@host/repo", "git+ssh://***@host/repo"),
        ("error (\"postgres://a:b@h/d\"): x", "error (\"postgres://***@h/d\"): x"),
        ("two: a://u:p@h and b://v:q@i.", "two: a://***@h and b://***@i."),
        ("://u:p@h", "://***@h"),
    ];
    for (input, expected) in cases {
        assert_eq!(redact(input), expected, "{input}");
        assert_eq!(redact(expected), expected, "redacting twice changes nothing");
    }
}

#[test]
fn password_parameters_go() {
    let cases = [
        ("postgres://db/x?password=s3cret", "postgres://db/x?password=***"),
        (
            "postgres://db/x?sslmode=require&password=s3cret&a=b",
            "postgres://db/x?sslmode=require&password=***&a=b",
        ),
        ("host=db password='a b c' user=x", "host=db password=*** user=x"),
        ("sslpassword=x;PWD=y", "sslpassword=***;PWD=***"),
        ("https://h/x?access_token=abc&x=1", "https://h/x?access_token=***&x=1"),
        ("routing_key=R0UT1NG", "routing_key=***"),
    ];
    for (input, expected) in cases {
        assert_eq!(redact(input), expected, "{input}");
    }
}

#[test]
fn text_without_secrets_is_borrowed_unchanged() {
    for text in [
        "file:///srv/index.git",
        "/srv/index.git",
        "git@github.com:o/r.git",
        "a = b, password is required",
        "email me@example.com",
        "x=1&y=2",
        "",
        "é://ü@ö",
    ] {
        let out = redact(text);
        if text.contains("://") && text.contains('@') {
            assert_ne!(out, text);
        } else {
            assert!(matches!(out, std::borrow::Cow::Borrowed(_)), "{text}");
        }
    }
}

#[test]
fn debug_and_display_are_redacted() {
    let url = "postgres://u:pw@h/db";
    assert_eq!(format!("{}", Redacted(url)), "postgres://***@h/db");
    assert_eq!(format!("{:?}", Redacted(url)), "\"postgres://***@h/db\"");
}
