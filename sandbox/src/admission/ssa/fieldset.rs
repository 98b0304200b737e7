//! Field paths and field sets, and their `FieldsV1` encoding, like structured-merge-diff's
//! `fieldpath` package
//! (<https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management>).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum PathElement {
    /// A field of an object.
    Field(String),
    /// An item of a map list, by its key fields (sorted by name) and their canonical JSON.
    Key(Vec<(String, String)>),
    /// An item of a set list, by its value (canonical JSON).
    Value(String),
    /// An item of a list by position (only read from foreign managedFields).
    Index(usize),
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => write!(f, ".{name}"),
            Self::Key(fields) => {
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            Self::Value(json) => write!(f, "[={json}]"),
            Self::Index(i) => write!(f, "[{i}]"),
        }
    }
}

impl PathElement {
    /// The FieldsV1 key of this element.
    pub(super) fn fields_v1_key(&self) -> String {
        match self {
            Self::Field(name) => format!("f:{name}"),
            Self::Key(fields) => {
                let mut obj = String::from("{");
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        obj.push(',');
                    }
                    obj.push_str(&canonical_json(&Value::String(k.clone())));
                    obj.push(':');
                    obj.push_str(v);
                }
                obj.push('}');
                format!("k:{obj}")
            }
            Self::Value(json) => format!("v:{json}"),
            Self::Index(i) => format!("i:{i}"),
        }
    }

    pub(super) fn from_fields_v1_key(key: &str) -> Result<Self, String> {
        let bad = || format!("invalid FieldsV1 key {key:?}");
        if let Some(name) = key.strip_prefix("f:") {
            return Ok(Self::Field(name.to_owned()));
        }
        if let Some(json) = key.strip_prefix("k:") {
            let value: Value = serde_json::from_str(json).map_err(|_| bad())?;
            let obj = value.as_object().ok_or_else(bad)?;
            let mut fields: Vec<(String, String)> = obj
                .iter()
                .map(|(k, v)| (k.clone(), canonical_json(v)))
                .collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(Self::Key(fields));
        }
        if let Some(json) = key.strip_prefix("v:") {
            let value: Value = serde_json::from_str(json).map_err(|_| bad())?;
            return Ok(Self::Value(canonical_json(&value)));
        }
        if let Some(index) = key.strip_prefix("i:") {
            return index.parse().map(Self::Index).map_err(|_| bad());
        }
        Err(bad())
    }
}

/// JSON text with object keys sorted, so equal values always encode the same.
pub(super) fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        canonical_json(&Value::String((*k).clone())),
                        canonical_json(&map[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// A set of field paths, as a tree; `member` marks a node that is itself in the set.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct FieldSet {
    /// Whether the node itself is in the set.
    pub(super) member: bool,
    /// The nodes below, by path element.
    pub(super) children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub(super) fn child(&mut self, pe: PathElement) -> &mut FieldSet {
        self.children.entry(pe).or_default()
    }

    pub(super) fn insert(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.child(first.clone()).insert(rest),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    pub(super) fn compact(&mut self) {
        for child in self.children.values_mut() {
            child.compact();
        }
        self.children.retain(|_, c| !c.is_empty());
    }

    pub(super) fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Members of `self` that are not members of `other` (not recursive on members).
    pub(super) fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    pub(super) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(pe.clone(), i);
                }
            }
        }
        out
    }

    /// Every node reached through a field name that has members below becomes a member too
    /// (structured-merge-diff's `EnsureNamedFieldsAreMembers`, with every object a struct).
    pub(super) fn ensure_named_fields_are_members(&self) -> FieldSet {
        let mut out = FieldSet {
            member: self.member,
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            let mut e = c.ensure_named_fields_are_members();
            if matches!(pe, PathElement::Field(_)) && !e.is_empty() {
                e.member = true;
            }
            out.children.insert(pe.clone(), e);
        }
        out
    }

    /// All member paths, in order.
    pub(super) fn members(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect_members(&mut Vec::new(), &mut out);
        out
    }

    fn collect_members(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect_members(prefix, out);
            prefix.pop();
        }
    }

    /// Removes the members at these paths (not their children).
    pub(super) fn unset(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.member = false,
            Some((first, rest)) => {
                if let Some(c) = self.children.get_mut(first) {
                    c.unset(rest);
                }
            }
        }
    }

    /// Keeps only the top-level fields for which `keep` holds.
    pub(super) fn retain_top_level(&mut self, keep: impl Fn(&str) -> bool) {
        self.children.retain(|pe, _| match pe {
            PathElement::Field(name) => keep(name),
            _ => true,
        });
    }

    pub(super) fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_owned(), json!({}));
        }
        for (pe, c) in &self.children {
            if c.is_empty() {
                continue;
            }
            map.insert(pe.fields_v1_key(), c.to_fields_v1());
        }
        Value::Object(map)
    }

    /// Decodes the `fieldsV1` of an entry (the root node).
    pub(super) fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        let mut set = FieldSet::default();
        let Some(map) = value.as_object() else {
            return Err("fieldsV1 is not an object".to_owned());
        };
        for (key, child) in map {
            if key == "." {
                set.member = true;
                continue;
            }
            let pe = PathElement::from_fields_v1_key(key)?;
            let mut c = FieldSet::from_fields_v1(child)?;
            if child.as_object().is_some_and(Map::is_empty) {
                c.member = true;
            }
            set.children.insert(pe, c);
        }
        Ok(set)
    }
}

/// Formats a path like structured-merge-diff's `Path.String()`.
pub(super) fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// The metadata the apiserver never records as owned (`stripMeta`).
pub(super) fn strip_server_fields(set: &mut FieldSet) {
    for top in ["apiVersion", "kind", "metadata"] {
        set.unset(&[PathElement::Field(top.to_owned())]);
    }
    for field in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.unset(&[
            PathElement::Field("metadata".to_owned()),
            PathElement::Field(field.to_owned()),
        ]);
    }
    set.compact();
}
