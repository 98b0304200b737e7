//! Label and field selectors, as accepted by the `labelSelector` and `fieldSelector` query
//! parameters of list and watch requests.
//!
//! Mirrors `k8s.io/apimachinery/pkg/labels` (the set-based label selector grammar, its lexer
//! quirks, key/value validation and error wording) and `k8s.io/apimachinery/pkg/fields` (the
//! equality-only field selector with `\`-escaping), see
//! <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors> and
//! <https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/>.
//!
//! The error messages are those of the real parsers, so that the server can return them verbatim
//! in a `400 BadRequest` Status, e.g. `unable to parse requirement: found '', expected: identifier`
//! or `invalid selector: 'a'; can't understand 'a'`.
//!
//! Hand-written, because no crate fits: kube-core's `Selector` and `Expression` (in the tree)
//! build and match selectors on the client side but parse no selector string, know no `Gt`/`Lt`
//! and validate nothing; k8s-openapi's `LabelSelector` is the API type only. What the server
//! needs is the grammar of `labels.Parse` and `fields.ParseSelector`, with their lexer quirks
//! and their exact error wording, which only the Go packages have.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::gofmt::go_quote;
use super::validation::{label_key_errors, label_value_errors};

/// Why a selector string was rejected; the `Display` text is the apiserver's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SelectorError {
    /// A label selector that does not parse or carries an invalid key or value.
    #[error("{0}")]
    Label(String),
    /// A field selector that does not parse.
    #[error("{0}")]
    Field(String),
}

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// The operator of one label requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelOp {
    /// `key` (the label exists).
    Exists,
    /// `!key` (the label does not exist).
    DoesNotExist,
    /// `key=value`, `key==value`, `key in (a,b)`.
    In,
    /// `key!=value`, `key notin (a,b)`; also matches objects without the label.
    NotIn,
    /// `key>3` (integer comparison).
    GreaterThan,
    /// `key<3` (integer comparison).
    LessThan,
}

/// One requirement of a label selector (all requirements are ANDed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: LabelOp,
    values: BTreeSet<String>,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.op {
            LabelOp::Exists => value.is_some(),
            LabelOp::DoesNotExist => value.is_none(),
            LabelOp::In => value.is_some_and(|v| self.values.contains(v)),
            LabelOp::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            LabelOp::GreaterThan | LabelOp::LessThan => {
                let Some(actual) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let Some(bound) = self
                    .values
                    .iter()
                    .next()
                    .and_then(|v| v.parse::<i64>().ok())
                else {
                    return false;
                };
                if self.op == LabelOp::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

/// A parsed label selector such as `app=web,tier in (a,b),!legacy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses a selector with the grammar and validation of `labels.Parse`.
    ///
    /// The empty string (or only whitespace) is the selector that matches everything.
    pub(crate) fn parse(s: &str) -> Result<Self, SelectorError> {
        let tokens = lex(s);
        let mut parser = Parser {
            tokens,
            position: 0,
        };
        let mut requirements = parser.parse().map_err(SelectorError::Label)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// Whether an object with these labels is selected.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the object (a full resource as JSON) is selected, reading its `metadata.labels`.
    /// Non-string label values (which a valid object never has) are ignored.
    pub(crate) fn matches_object(&self, object: &Value) -> bool {
        if self.is_empty() {
            return true;
        }
        let labels: BTreeMap<String, String> = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        self.matches(&labels)
    }

    /// Whether the selector selects everything (it has no requirement).
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
    Error,
}

fn symbol_token(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// Splits the selector into tokens the way the apiserver's lexer does.
fn lex(s: &str) -> Vec<(Token, String)> {
    let chars: Vec<char> = s.chars().collect();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < chars.len() && is_whitespace(chars[pos]) {
            pos += 1;
        }
        if pos >= chars.len() {
            out.push((Token::EndOfString, String::new()));
            return out;
        }
        if is_special(chars[pos]) {
            // Longest run of special symbols that still forms a known token.
            let mut buffer = String::new();
            let mut last: Option<(Token, String)> = None;
            while pos < chars.len() && is_special(chars[pos]) {
                buffer.push(chars[pos]);
                if let Some(t) = symbol_token(&buffer) {
                    last = Some((t, buffer.clone()));
                    pos += 1;
                } else if last.is_some() {
                    break;
                } else {
                    pos += 1;
                }
            }
            out.push(last.unwrap_or_else(|| {
                (
                    Token::Error,
                    format!("error expected: keyword found '{buffer}'"),
                )
            }));
        } else {
            let mut buffer = String::new();
            while pos < chars.len() && !is_special(chars[pos]) && !is_whitespace(chars[pos]) {
                buffer.push(chars[pos]);
                pos += 1;
            }
            let token = match buffer.as_str() {
                "in" => Token::In,
                "notin" => Token::NotIn,
                _ => Token::Identifier,
            };
            out.push((token, buffer));
        }
    }
}

/// Whether the parser is reading a key/operator or values (`in`/`notin` are plain identifiers
/// in value position, so `x in (in)` is valid).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    tokens: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn peek_at(&self, position: usize, context: Context) -> (Token, String) {
        let (tok, lit) = self
            .tokens
            .get(position)
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        let tok = match tok {
            Token::In | Token::NotIn if context == Context::Values => Token::Identifier,
            t => t,
        };
        (tok, lit)
    }

    fn lookahead(&self, context: Context) -> (Token, String) {
        self.peek_at(self.position, context)
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.peek_at(self.position, context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!("found '{l}', expected: ',' or 'end of string'"));
                        }
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, unary) = self.parse_key_and_infer_operator()?;
        if let Some(op) = unary {
            return new_requirement(key, op, BTreeSet::new());
        }
        let (op, set_based) = self.parse_operator()?;
        let values = if set_based {
            self.parse_values()?
        } else {
            self.parse_exact_value()?
        };
        new_requirement(key, op, values)
    }

    /// Returns the key, and the operator when it is unary (`key` or `!key`).
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<LabelOp>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            op = Some(LabelOp::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let errs = label_key_errors(&lit);
        if !errs.is_empty() {
            return Err(invalid("<nil>", &lit, &errs.join("; ")));
        }
        let (next, _) = self.lookahead(Context::Values);
        if (next == Token::EndOfString || next == Token::Comma) && op.is_none() {
            op = Some(LabelOp::Exists);
        }
        Ok((lit, op))
    }

    /// Returns the operator and whether it takes a parenthesised value set.
    fn parse_operator(&mut self) -> Result<(LabelOp, bool), String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => (LabelOp::In, true),
            Token::NotIn => (LabelOp::NotIn, true),
            Token::Equals | Token::DoubleEquals => (LabelOp::In, false),
            Token::NotEquals => (LabelOp::NotIn, false),
            Token::GreaterThan => (LabelOp::GreaterThan, false),
            Token::LessThan => (LabelOp::LessThan, false),
            _ => {
                return Err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    /// Parses `(a,b,c)`; empty members are the empty string.
    fn parse_values(&mut self) -> Result<BTreeSet<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let set = self.parse_identifiers_list()?;
                let (closing, _) = self.consume(Context::Values);
                if closing != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(set)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, String> {
        let mut set = BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    set.insert(lit);
                    let (next, next_lit) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{next_lit}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    let (next, _) = self.lookahead(Context::Values);
                    if next == Token::ClosedPar {
                        set.insert(String::new());
                        return Ok(set);
                    }
                    if next == Token::Comma {
                        set.insert(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    /// Parses the single value of `=`, `==`, `!=`, `>`, `<`; a missing value is "".
    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(BTreeSet::from([lit]))
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

/// Validates the values of a requirement like `labels.NewRequirement` (the key was validated by
/// the parser already); several errors are aggregated as `[e1, e2]`.
fn new_requirement(
    key: String,
    op: LabelOp,
    values: BTreeSet<String>,
) -> Result<Requirement, String> {
    let mut errs: Vec<String> = Vec::new();
    if matches!(op, LabelOp::GreaterThan | LabelOp::LessThan) {
        for (i, v) in values.iter().enumerate() {
            if v.parse::<i64>().is_err() {
                let msg = invalid(
                    &format!("values[{i}]"),
                    v,
                    "for 'Gt', 'Lt' operators, the value must be an integer",
                );
                if !errs.contains(&msg) {
                    errs.push(msg);
                }
            }
        }
    }
    for (i, v) in values.iter().enumerate() {
        let msgs = label_value_errors(v);
        if !msgs.is_empty() {
            let msg = invalid(&format!("values[{i}][{key}]"), v, &msgs.join("; "));
            if !errs.contains(&msg) {
                errs.push(msg);
            }
        }
    }
    match errs.len() {
        0 => Ok(Requirement { key, op, values }),
        1 => Err(errs.remove(0)),
        _ => Err(format!("[{}]", errs.join(", "))),
    }
}

/// `field.Invalid(path, value, detail).Error()` for a string value.
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {}: {detail}", go_quote(value))
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/// One `field=value` or `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    equal: bool,
    value: String,
}

/// A parsed field selector such as `metadata.name=x,type!=Normal`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parses a selector like `fields.ParseSelector`: terms separated by unescaped commas, each
    /// `f=v`, `f==v` or `f!=v`; `\`, `\,` and `\=` escape those characters in values.
    pub(crate) fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parts = split_terms(s);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, op, rhs)) = split_term(&part) else {
                return Err(SelectorError::Field(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let value = unescape_field_value(rhs).map_err(SelectorError::Field)?;
            terms.push(FieldTerm {
                field: field.to_owned(),
                equal: op != "!=",
                value,
            });
        }
        Ok(Self { terms })
    }

    /// Whether the object is selected. Each field is a dotted path into the JSON object; a
    /// missing field (or a null, object or array) reads as the empty string, numbers and booleans
    /// as their JSON text, like the string-valued field sets of the apiserver.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|t| {
            let actual = field_value(object, &t.field);
            (actual == t.value) == t.equal
        })
    }

    /// The field paths the selector uses, in order, possibly repeated.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|t| t.field.as_str())
    }

    /// Whether the selector selects everything (it has no term).
    pub(crate) fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value the selector requires for `field` with `=`/`==`, if any (the apiserver uses
    /// this to narrow lists, e.g. `metadata.name=x`).
    pub(crate) fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.equal && t.field == field)
            .map(|t| t.value.as_str())
    }
}

/// The string a field selector compares against for `path` in `object`.
fn field_value(object: &Value, path: &str) -> String {
    let mut current = object;
    for segment in path.split('.') {
        match current.get(segment) {
            Some(v) => current = v,
            None => return String::new(),
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    }
}

/// Splits on commas that are not escaped by a backslash (escapes are kept).
fn split_terms(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == ',' {
            terms.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    terms.push(current);
    terms
}

/// Splits a term at its first unescaped operator (`!=`, `==`, `=`).
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

/// `fields.UnescapeValue`.
fn unescape_field_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{c}"
                    ));
                }
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => {
                // Go formats the rune with %v, which prints its code point.
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    u32::from(c)
                ));
            }
            c => out.push(c),
        }
    }
    if escaped {
        return Err("invalid field selector: invalid escape sequence: \\".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed assertion in tests
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap()
    }

    fn label_err(s: &str) -> String {
        LabelSelector::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn empty_label_selector_matches_everything() {
        for s in ["", "  ", "\t"] {
            let selector = sel(s);
            assert!(selector.is_empty());
            assert!(selector.matches(&labels(&[])));
            assert!(selector.matches(&labels(&[("a", "b")])));
        }
    }

    #[test]
    fn equality_operators_match_the_exact_value() {
        for s in ["app=web", "app==web", " app = web "] {
            let selector = sel(s);
            assert!(!selector.is_empty());
            assert!(selector.matches(&labels(&[("app", "web")])), "{s}");
            assert!(!selector.matches(&labels(&[("app", "db")])), "{s}");
            assert!(!selector.matches(&labels(&[])), "{s}");
        }
    }

    #[test]
    fn not_equals_matches_objects_without_the_label() {
        let selector = sel("app!=web");
        assert!(selector.matches(&labels(&[])));
        assert!(selector.matches(&labels(&[("app", "db")])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn set_based_in_matches_any_listed_value() {
        let selector = sel("tier in (a, b)");
        assert!(selector.matches(&labels(&[("tier", "a")])));
        assert!(selector.matches(&labels(&[("tier", "b")])));
        assert!(!selector.matches(&labels(&[("tier", "c")])));
        assert!(!selector.matches(&labels(&[])));
    }

    #[test]
    fn set_based_notin_matches_objects_without_the_label() {
        let selector = sel("tier notin (a)");
        assert!(selector.matches(&labels(&[])));
        assert!(selector.matches(&labels(&[("tier", "b")])));
        assert!(!selector.matches(&labels(&[("tier", "a")])));
    }

    #[test]
    fn bare_key_requires_existence_and_bang_key_requires_absence() {
        assert!(sel("app").matches(&labels(&[("app", "")])));
        assert!(!sel("app").matches(&labels(&[])));
        assert!(sel("!app").matches(&labels(&[])));
        assert!(!sel("!app").matches(&labels(&[("app", "x")])));
    }

    #[test]
    fn commas_and_whitespace_combine_requirements_with_and() {
        let selector = sel("app=web, tier in (a,b) ,!legacy");
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "a")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "a"), ("legacy", "1")])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn in_and_notin_are_plain_values_inside_a_value_set() {
        let selector = sel("x in (in,notin)");
        assert!(selector.matches(&labels(&[("x", "in")])));
        assert!(selector.matches(&labels(&[("x", "notin")])));
    }

    #[test]
    fn empty_values_are_allowed_like_the_real_parser() {
        assert!(sel("a=").matches(&labels(&[("a", "")])));
        assert!(sel("x in ()").matches(&labels(&[("x", "")])));
        assert!(sel("x in (foo,,baz)").matches(&labels(&[("x", "")])));
    }

    #[test]
    fn greater_and_less_than_compare_integers() {
        assert!(sel("n>3").matches(&labels(&[("n", "4")])));
        assert!(!sel("n>3").matches(&labels(&[("n", "3")])));
        assert!(!sel("n>3").matches(&labels(&[("n", "x")])));
        assert!(sel("n<3").matches(&labels(&[("n", "-1")])));
        assert!(!sel("n<3").matches(&labels(&[])));
    }

    #[test]
    fn prefixed_keys_are_accepted() {
        assert!(sel("kube.rs/owner=me").matches(&labels(&[("kube.rs/owner", "me")])));
    }

    #[test]
    fn matches_object_reads_metadata_labels() {
        let obj = json!({"metadata": {"name": "x", "labels": {"app": "web"}}});
        assert!(sel("app=web").matches_object(&obj));
        assert!(!sel("app=db").matches_object(&obj));
        assert!(sel("!app").matches_object(&json!({"metadata": {"name": "x"}})));
    }

    #[test]
    fn syntax_errors_use_the_apiserver_wording() {
        assert_eq!(
            label_err("app in"),
            "unable to parse requirement: found '' expected: '('"
        );
        assert_eq!(
            label_err("a b"),
            "found 'b', expected: in, notin, =, ==, !=, gt, lt"
                .replace("found", "unable to parse requirement: found")
        );
        assert_eq!(label_err("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            label_err(",a"),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            label_err("a in (b"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            label_err("a in b"),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            label_err("!a=b"),
            "found '=', expected: ',' or 'end of string'"
        );
    }

    #[test]
    fn invalid_label_values_are_rejected_with_field_paths() {
        assert_eq!(
            label_err("app=-web"),
            "unable to parse requirement: values[0][app]: Invalid value: \"-web\": a valid label \
             must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and \
             must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  \
             or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        let long = "a".repeat(64);
        assert!(label_err(&format!("app={long}")).contains("must be no more than 63 bytes"));
        assert_eq!(
            label_err("n>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' \
             operators, the value must be an integer"
        );
    }

    #[test]
    fn invalid_label_keys_are_rejected_like_the_apiserver() {
        assert_eq!(
            label_err("-app=x"),
            "unable to parse requirement: <nil>: Invalid value: \"-app\": name part must consist \
             of alphanumeric characters, '-', '_' or '.', and must start and end with an \
             alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for \
             validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert!(label_err("/app").contains("prefix part must be non-empty"));
        assert!(label_err("Kube.RS/app").contains("prefix part a lowercase RFC 1123 subdomain"));
        assert!(label_err("a/b/c").contains("a valid label key must consist"));
    }

    #[test]
    fn field_selector_equality_and_inequality_resolve_dotted_paths() {
        let obj = json!({
            "metadata": {"name": "doc", "namespace": "ns"},
            "involvedObject": {"name": "doc", "kind": "Document"},
            "type": "Warning",
            "count": 3,
            "spec": {"hide": true}
        });
        let s = FieldSelector::parse("metadata.name=doc,involvedObject.kind==Document").unwrap();
        assert!(s.matches(&obj));
        assert!(FieldSelector::parse("type!=Normal").unwrap().matches(&obj));
        assert!(!FieldSelector::parse("type!=Warning").unwrap().matches(&obj));
        assert!(FieldSelector::parse("count=3").unwrap().matches(&obj));
        assert!(
            FieldSelector::parse("spec.hide=true")
                .unwrap()
                .matches(&obj)
        );
        assert!(FieldSelector::parse("reason=").unwrap().matches(&obj));
        assert!(!FieldSelector::parse("reason=x").unwrap().matches(&obj));
        assert!(FieldSelector::parse("reason!=x").unwrap().matches(&obj));
    }

    #[test]
    fn empty_field_selector_matches_everything() {
        let s = FieldSelector::parse("").unwrap();
        assert!(s.is_empty());
        assert!(s.matches(&json!({})));
        assert_eq!(s.fields().count(), 0);
    }

    #[test]
    fn field_selector_reports_its_fields_for_support_checks() {
        let s = FieldSelector::parse("metadata.name=a,metadata.namespace!=b").unwrap();
        let fields: Vec<&str> = s.fields().collect();
        assert_eq!(fields, ["metadata.name", "metadata.namespace"]);
        assert_eq!(s.requires_exact_match("metadata.name"), Some("a"));
        assert_eq!(s.requires_exact_match("metadata.namespace"), None);
    }

    #[test]
    fn field_selector_escapes_allow_commas_and_equals_in_values() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").unwrap();
        assert!(s.matches(&json!({"metadata": {"name": r"a,b=c\d"}})));
    }

    #[test]
    fn malformed_field_selectors_use_the_apiserver_wording() {
        assert_eq!(
            FieldSelector::parse("a").unwrap_err().to_string(),
            "invalid selector: 'a'; can't understand 'a'"
        );
        assert_eq!(
            FieldSelector::parse("a=b=c").unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            FieldSelector::parse(r"a=b\x").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \x"
        );
    }
}
