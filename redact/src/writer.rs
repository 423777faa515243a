//! A writer that redacts what passes through it.

/// Writes everything through [`redact`](crate::redact) first: the last line of defence for
/// a log, behind the redaction done where values are formatted. Each `write` is redacted on
/// its own, so give it whole lines (a logger writes one event per call).
#[derive(Debug)]
pub struct RedactingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(crate::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    #[test]
    fn a_url_password_never_reaches_the_inner_writer() {
        let mut out = super::RedactingWriter(Vec::new());
        out.write_all(b"connecting to postgres://app:hunter2@db/registry\n").unwrap_or_default();
        let text = String::from_utf8(out.0).unwrap_or_default();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains(&format!("postgres://{}@db/registry", crate::MASK)), "{text}");
    }
}
