//! Which bytes of a Rust file are code, string literal or comment: enough lexing to rename an
//! identifier differently from the same word in prose or in a Kubernetes name.
//!
//! No crate in the dependency tree lexes Rust (`syn` and `proc-macro2` are not in it, and would
//! be heavy for this), and the generator needs only three classes, so the few rules are written
//! here: line and nested block comments, string literals with escapes, raw strings with any number
//! of `#`, byte and C strings, and char literals told apart from lifetimes.

/// What a byte of a Rust source is part of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Code: identifiers, keywords, punctuation, and the `{name}` arguments of format strings.
    Code,
    /// The inside of a string or char literal (its quotes are code).
    Str,
    /// A comment, doc comments included.
    Comment,
}

/// The class of every byte of `text`.
pub fn classify(text: &str) -> Vec<Class> {
    let bytes = text.as_bytes();
    let mut classes = vec![Class::Code; bytes.len()];
    let mut i = 0;
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                classes[i..end].fill(Class::Comment);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                let start = i;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                classes[start..i].fill(Class::Comment);
            }
            b'r' if (i == 0 || !ident(bytes[i - 1]) || raw_prefix(bytes, i))
                && matches!(bytes.get(i + 1), Some(b'"' | b'#')) =>
            {
                let hashes = bytes[i + 1..].iter().take_while(|&&b| b == b'#').count();
                let open = i + 1 + hashes;
                if bytes.get(open) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let closing = format!("\"{}", "#".repeat(hashes));
                let body = open + 1;
                let end = text[body..]
                    .find(&closing)
                    .map_or(bytes.len(), |n| body + n);
                classes[body..end].fill(Class::Str);
                i = (end + closing.len()).min(bytes.len());
            }
            b'"' => {
                let body = i + 1;
                let mut j = body;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(bytes.len());
                classes[body..end].fill(Class::Str);
                i = end + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{1F600}', '€') or a lifetime / label ('a, 'static).
                let rest = &text[i + 1..];
                let mut chars = rest.char_indices();
                let literal_end = match chars.next() {
                    Some((_, '\\')) => rest.find('\'').map(|n| i + 1 + n),
                    Some((_, c)) => {
                        let after = c.len_utf8();
                        (rest[after..].starts_with('\'')).then_some(i + 1 + after)
                    }
                    None => None,
                };
                match literal_end {
                    Some(end) => {
                        classes[i + 1..end].fill(Class::Str);
                        i = end + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    format_arguments(text, &mut classes);
    classes
}

/// `br"…"`, `cr#"…"#`: the `r` of a raw string after a byte or C string prefix.
fn raw_prefix(bytes: &[u8], i: usize) -> bool {
    i >= 1
        && matches!(bytes[i - 1], b'b' | b'c')
        && (i == 1 || !(bytes[i - 2].is_ascii_alphanumeric() || bytes[i - 2] == b'_'))
}

/// `{name}` and `{name:…}` inside string literals are code: format strings capture variables.
fn format_arguments(text: &str, classes: &mut [Class]) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if classes[i] == Class::Str && bytes[i] == b'{' && bytes.get(i + 1) != Some(&b'{') {
            let start = i + 1;
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
            if end > start
                && bytes[start].is_ascii_alphabetic()
                && matches!(bytes.get(end), Some(b'}' | b':'))
                && classes[end] == Class::Str
            {
                classes[start..end].fill(Class::Code);
            }
            i = end.max(i + 1);
        } else if classes[i] == Class::Str && bytes[i] == b'{' {
            i += 2;
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str, word: &str) -> Class {
        let at = text.find(word).expect("word in text");
        classify(text)[at]
    }

    #[test]
    fn code_strings_and_comments_are_told_apart() {
        let text = "let doc = x; // the doc\nlet s = \"a doc\"; /* doc /* nested */ doc */ f(doc2)";
        assert_eq!(of(text, "doc ="), Class::Code);
        assert_eq!(of(text, "doc\n"), Class::Comment);
        assert_eq!(of(text, "doc\";"), Class::Str);
        assert_eq!(of(text, "doc */ f"), Class::Comment);
        assert_eq!(of(text, "doc2"), Class::Code);
    }

    #[test]
    fn raw_strings_chars_lifetimes_and_format_arguments() {
        let text = r###"let a = r#"say "doc" here"#; let c = '"'; fn f<'doc>(x: &'doc str) {} format!("x-{doc}-{doc:?} {{doc}}")"###;
        assert_eq!(of(text, "doc\" here"), Class::Str);
        assert_eq!(of(text, "doc>"), Class::Code, "a lifetime is code");
        assert_eq!(of(text, "doc}-"), Class::Code);
        assert_eq!(of(text, "doc:?"), Class::Code);
        assert_eq!(of(text, "doc}}"), Class::Str, "an escaped brace is text");
        let escaped = r#"let s = "a \"doc\" here"; doc"#;
        assert_eq!(of(escaped, "doc\\\""), Class::Str);
        assert_eq!(classify(escaped)[escaped.len() - 1], Class::Code);
    }
}
