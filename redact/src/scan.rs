//! The scan: user information of URL-like words, then password-like parameters.

use std::borrow::Cow;
use std::fmt;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Parameter names (compared in lowercase, as substrings) whose values are secrets.
const SECRET_KEYS: &[&str] =
    &["password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "routing_key"];

/// `text` with the user information of every `scheme://...@` and the value of every
/// password-like `key=value` replaced by [`MASK`]. Borrows `text` when nothing was found.
pub fn redact(text: &str) -> Cow<'_, str> {
    let userinfo = redact_userinfo(text);
    match redact_parameters(&userinfo) {
        Cow::Borrowed(_) => userinfo,
        Cow::Owned(owned) => Cow::Owned(owned),
    }
}

/// Shows a string through [`redact`], for `Display` and `Debug` (where it is quoted like a
/// `String`).
#[derive(Clone, Copy)]
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(self.0))
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*redact(self.0), f)
    }
}

/// Whether `b` ends a URL-like word: whitespace, quotes and angle brackets.
fn ends_word(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'`' | b'<' | b'>')
}

/// `out` (when something was replaced) completed with the rest of `text` from `copied`.
fn finish(text: &str, out: Option<String>, copied: usize) -> Cow<'_, str> {
    match out {
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(text),
    }
}

fn redact_userinfo(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = text[at..].find("://") {
        let start = at + found + 3;
        let end =
            bytes[start..].iter().position(|b| ends_word(*b)).map_or(bytes.len(), |p| start + p);
        // The last `@` of the word: a password may hold `@`, `/` or `:` unescaped, and
        // hiding too much beats leaking.
        match bytes[start..end].iter().rposition(|b| *b == b'@') {
            Some(p) if p > 0 && !(p == MASK.len() && &text[start..start + p] == MASK) => {
                let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
                out.push_str(&text[copied..start]);
                out.push_str(MASK);
                copied = start + p;
                at = end;
            }
            _ => at = start,
        }
    }
    finish(text, out, copied)
}

fn redact_parameters(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = text[at..].find('=') {
        let eq = at + found;
        let key_start = bytes[..eq]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
            .map_or(0, |p| p + 1);
        let key = text[key_start..eq].to_ascii_lowercase();
        at = eq + 1;
        if key.is_empty() || !SECRET_KEYS.iter().any(|k| key.contains(k)) {
            continue;
        }
        let value_start = eq + 1;
        let value_end = match bytes.get(value_start) {
            Some(quote @ (b'\'' | b'"')) => bytes[value_start + 1..]
                .iter()
                .position(|b| b == quote)
                .map_or(bytes.len(), |p| value_start + 1 + p + 1),
            _ => bytes[value_start..]
                .iter()
                .position(|b| ends_word(*b) || matches!(b, b'&' | b';' | b',' | b')'))
                .map_or(bytes.len(), |p| value_start + p),
        };
        if value_end == value_start || &text[value_start..value_end] == MASK {
            continue;
        }
        let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
        out.push_str(&text[copied..value_start]);
        out.push_str(MASK);
        copied = value_end;
        at = value_end;
    }
    finish(text, out, copied)
}

#[cfg(test)]
mod tests;
