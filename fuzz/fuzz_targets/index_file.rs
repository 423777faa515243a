//! Index lines and files from any text, and every `Edit` on them: parse, edit, serialize,
//! parse again, and the result is what the edit said.
#![no_main]

use index_git::{CrateName, Edit, IndexFile, IndexLine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let Ok(name) = CrateName::new("fuzzed") else { return };
    // The first line doubles as a line to put; the rest is the current file.
    let (first, rest) = input.split_once('\n').unwrap_or((input, ""));
    let new_line: Option<IndexLine> = serde_json::from_str(first).ok();
    let Ok(file) = IndexFile::parse(&name, rest) else { return };
    // What a file parses to, it prints to, and that parses back to the same lines.
    let printed = file.to_string();
    let again = IndexFile::parse(&name, &printed).expect("a printed file parses");
    assert!(file.lines().eq(again.lines()));

    let mut edits = vec![Edit::Delete { name: name.clone() }];
    if let Some(line) = file.lines().next() {
        edits.push(Edit::SetYanked { name: name.clone(), vers: line.vers.clone(), yanked: !line.yanked });
    }
    edits.push(Edit::Replace { name: name.clone(), lines: file.lines().cloned().collect() });
    if let Some(line) = new_line {
        edits.push(Edit::Put(line.clone()));
        edits.push(Edit::Replace { name: name.clone(), lines: vec![line] });
    }
    for edit in &edits {
        let Ok(result) = edit.apply(Some(&printed)) else { continue };
        match (edit, result) {
            (Edit::Delete { .. }, out) => assert!(out.is_none()),
            (_, None) => {}
            (edit, Some(text)) => {
                // The file an edit writes is its own crate's (a `Put` names it in its line).
                let own = edit.crate_name().expect("an edit that applied names a valid crate");
                let parsed = IndexFile::parse(&own, &text).expect("an edit's output parses");
                match edit {
                    Edit::SetYanked { vers, yanked, .. } => {
                        assert_eq!(parsed.get(vers).map(|l| l.yanked), Some(*yanked));
                    }
                    Edit::Replace { lines, .. } => assert!(parsed.lines().eq(lines.iter())),
                    Edit::Put(line) => assert!(parsed.get(&line.vers).is_some()),
                    Edit::Delete { .. } => unreachable!(),
                }
                // Applying the same edit again changes nothing.
                assert_eq!(edit.apply(Some(&text)).ok().flatten().as_deref(), Some(text.as_str()));
            }
        }
    }
});
