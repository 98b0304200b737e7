//! Walking JSON values the way structured-merge-diff's `typed` package does: the field set of
//! an applied configuration, the comparison of two objects, the merge of a configuration into
//! a live object, and the removal of owned fields.

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, PathElement, canonical_json};
use super::{ListType, ListTypes};
use crate::meta::gofmt::go_quote;

/// The path element of a list item, or an error for an unusable map-list item.
fn item_element(
    list_type: &ListType,
    item: &Value,
    index: usize,
    schema_path: &[String],
) -> Result<PathElement, String> {
    match list_type {
        ListType::Set => Ok(PathElement::Value(canonical_json(item))),
        ListType::Map(keys) => {
            let Some(obj) = item.as_object() else {
                return Err(format!(
                    ".{}: element {index} should be an object",
                    schema_path.join(".")
                ));
            };
            let mut fields = Vec::new();
            for key in keys {
                match obj.get(key) {
                    Some(v) => fields.push((key.clone(), canonical_json(v))),
                    None => {
                        return Err(format!(
                            ".{}: element {index}: associative list with keys has an element \
                             that omits key field {} (and doesn't have default value)",
                            schema_path.join("."),
                            go_quote(key)
                        ));
                    }
                }
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        ListType::Atomic => Ok(PathElement::Index(index)),
    }
}

/// The items of a set or map list by path element (the first of duplicates wins); items that
/// cannot be keyed fall back to their index.
fn index_items<'a>(
    list_type: &ListType,
    items: &'a [Value],
    schema_path: &[String],
) -> Vec<(PathElement, &'a Value)> {
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let pe = item_element(list_type, item, i, schema_path).unwrap_or(PathElement::Index(i));
        if !out.iter().any(|(p, _)| *p == pe) {
            out.push((pe, item));
        }
    }
    out
}

/// The set of fields an applied configuration specifies (structured-merge-diff `ToFieldSet`).
pub(super) fn to_field_set(value: &Value, list_types: &dyn ListTypes) -> Result<FieldSet, String> {
    let mut set = FieldSet::default();
    walk_set(value, &mut set, &mut Vec::new(), list_types)?;
    Ok(set)
}

fn walk_set(
    value: &Value,
    node: &mut FieldSet,
    schema_path: &mut Vec<String>,
    list_types: &dyn ListTypes,
) -> Result<(), String> {
    match value {
        // Like structured-merge-diff with struct types, an object is owned through its fields
        // only (an empty object owns nothing).
        Value::Object(map) => {
            for (k, v) in map {
                schema_path.push(k.clone());
                let child = node.child(PathElement::Field(k.clone()));
                walk_set(v, child, schema_path, list_types)?;
                schema_path.pop();
            }
        }
        Value::Array(items) => {
            let list_type = list_types.list_type(schema_path);
            if list_type == ListType::Atomic {
                node.member = true;
                return Ok(());
            }
            let mut seen: Vec<PathElement> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let pe = item_element(&list_type, item, i, schema_path)?;
                if seen.contains(&pe) {
                    return Err(format!(
                        ".{}: duplicate entries for key {}",
                        schema_path.join("."),
                        pe
                    ));
                }
                seen.push(pe.clone());
                let child = node.child(pe);
                if list_type != ListType::Set {
                    walk_set(item, child, schema_path, list_types)?;
                }
                child.member = true;
            }
        }
        _ => node.member = true,
    }
    Ok(())
}

/// Numbers compare by value (`1` equals `1.0`), everything else structurally.
pub(super) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// What changed between two objects (structured-merge-diff `Compare`): added and removed nodes
/// (containers included), modified leaves.
#[derive(Debug, Default)]
pub(super) struct Comparison {
    /// Nodes only in the new object.
    pub(super) added: FieldSet,
    /// Nodes only in the old object.
    pub(super) removed: FieldSet,
    /// Leaves in both whose values differ.
    pub(super) modified: FieldSet,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Object,
    Array,
    Leaf,
}

fn shape(v: &Value) -> Shape {
    match v {
        Value::Object(_) => Shape::Object,
        Value::Array(_) => Shape::Array,
        _ => Shape::Leaf,
    }
}

pub(super) fn compare(old: &Value, new: &Value, list_types: &dyn ListTypes) -> Comparison {
    let mut cmp = Comparison::default();
    compare_node(
        Some(old),
        Some(new),
        &mut Vec::new(),
        &mut Vec::new(),
        list_types,
        &mut cmp,
    );
    cmp
}

fn compare_node(
    old: Option<&Value>,
    new: Option<&Value>,
    path: &mut Vec<PathElement>,
    schema_path: &mut Vec<String>,
    list_types: &dyn ListTypes,
    cmp: &mut Comparison,
) {
    let Some(any) = new.or(old) else { return };
    let shapes_agree = match (old, new) {
        (Some(o), Some(n)) => shape(o) == shape(n),
        _ => true,
    };
    if !shapes_agree {
        cmp.modified.insert(path);
    } else {
        match shape(any) {
            Shape::Object => {
                let empty = Map::new();
                let o = old.and_then(Value::as_object).unwrap_or(&empty);
                let n = new.and_then(Value::as_object).unwrap_or(&empty);
                let mut keys: Vec<&String> = n.keys().chain(o.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    path.push(PathElement::Field(k.clone()));
                    schema_path.push(k.clone());
                    compare_node(o.get(k), n.get(k), path, schema_path, list_types, cmp);
                    schema_path.pop();
                    path.pop();
                }
            }
            Shape::Array => {
                let list_type = list_types.list_type(schema_path);
                if list_type == ListType::Atomic {
                    if let (Some(o), Some(n)) = (old, new)
                        && !values_equal(o, n)
                    {
                        cmp.modified.insert(path);
                    }
                } else {
                    let empty = Vec::new();
                    let o = old.and_then(Value::as_array).unwrap_or(&empty);
                    let n = new.and_then(Value::as_array).unwrap_or(&empty);
                    let o_items = index_items(&list_type, o, schema_path);
                    let n_items = index_items(&list_type, n, schema_path);
                    let mut pes: Vec<&PathElement> = n_items.iter().map(|(p, _)| p).collect();
                    for (p, _) in &o_items {
                        if !pes.contains(&p) {
                            pes.push(p);
                        }
                    }
                    for pe in pes {
                        let oi = o_items.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
                        let ni = n_items.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
                        path.push(pe.clone());
                        compare_node(oi, ni, path, schema_path, list_types, cmp);
                        path.pop();
                    }
                }
            }
            Shape::Leaf => {
                if let (Some(o), Some(n)) = (old, new)
                    && !values_equal(o, n)
                {
                    cmp.modified.insert(path);
                }
            }
        }
    }
    if !path.is_empty() {
        if old.is_none() {
            cmp.added.insert(path);
        } else if new.is_none() {
            cmp.removed.insert(path);
        }
    }
}

/// Merges the applied configuration into the live object (structured-merge-diff `Merge`).
pub(super) fn merge(
    live: Option<&Value>,
    config: &Value,
    schema_path: &mut Vec<String>,
    list_types: &dyn ListTypes,
) -> Result<Value, String> {
    match (live, config) {
        (Some(Value::Object(l)), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                schema_path.push(k.clone());
                let merged = merge(l.get(k), cv, schema_path, list_types)?;
                schema_path.pop();
                out.insert(k.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        (Some(Value::Array(l)), Value::Array(c)) => {
            let list_type = list_types.list_type(schema_path);
            if list_type == ListType::Atomic {
                return Ok(config.clone());
            }
            merge_list(l, c, &list_type, schema_path, list_types).map(Value::Array)
        }
        (_, Value::Array(c)) => {
            // Validate keys of a new list.
            let list_type = list_types.list_type(schema_path);
            if list_type != ListType::Atomic {
                check_unique(&list_type, c, schema_path)?;
            }
            Ok(config.clone())
        }
        _ => Ok(config.clone()),
    }
}

fn check_unique(
    list_type: &ListType,
    items: &[Value],
    schema_path: &[String],
) -> Result<(), String> {
    let mut seen = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let pe = item_element(list_type, item, i, schema_path)?;
        if seen.contains(&pe) {
            return Err(format!(
                ".{}: duplicate entries for key {}",
                schema_path.join("."),
                pe
            ));
        }
        seen.push(pe);
    }
    Ok(())
}

/// Merges a set or map list: shared items merge (in the applied order), live-only items keep
/// their place, applied-only items are inserted where the applied list puts them.
fn merge_list(
    live: &[Value],
    config: &[Value],
    list_type: &ListType,
    schema_path: &mut Vec<String>,
    list_types: &dyn ListTypes,
) -> Result<Vec<Value>, String> {
    check_unique(list_type, config, schema_path)?;
    let rhs = index_items(list_type, config, schema_path);
    let lhs: Vec<(PathElement, &Value)> = live
        .iter()
        .enumerate()
        .map(|(i, item)| {
            (
                item_element(list_type, item, i, schema_path).unwrap_or(PathElement::Index(i)),
                item,
            )
        })
        .collect();
    let in_rhs = |pe: &PathElement| rhs.iter().any(|(p, _)| p == pe);
    let lhs_get = |pe: &PathElement| lhs.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
    let mut shared: std::collections::VecDeque<&PathElement> = rhs
        .iter()
        .map(|(p, _)| p)
        .filter(|p| lhs.iter().any(|(q, _)| q == *p))
        .collect();
    let mut next_shared = shared.pop_front();
    let mut merged_rhs: Vec<PathElement> = Vec::new();
    let mut out = Vec::with_capacity(live.len() + config.len());
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lhs[li].0;
            if *pe == rhs[ri].0 {
                merged_rhs.push(pe.clone());
                out.push(merge(Some(lhs[li].1), rhs[ri].1, schema_path, list_types)?);
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if in_rhs(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let pe = &lhs[li].0;
            if !in_rhs(pe) {
                out.push(lhs[li].1.clone());
                li += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let (pe, item) = &rhs[ri];
            merged_rhs.push(pe.clone());
            out.push(merge(lhs_get(pe), item, schema_path, list_types)?);
            ri += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    Ok(out)
}

/// Removes the members of `set` (with everything below them) from `value`.
pub(super) fn remove_fields(
    value: &mut Value,
    set: &FieldSet,
    schema_path: &mut Vec<String>,
    list_types: &dyn ListTypes,
) {
    match value {
        Value::Object(map) => {
            for (pe, child) in &set.children {
                let PathElement::Field(name) = pe else {
                    continue;
                };
                if child.member {
                    map.remove(name);
                } else if let Some(v) = map.get_mut(name) {
                    schema_path.push(name.clone());
                    remove_fields(v, child, schema_path, list_types);
                    schema_path.pop();
                }
            }
        }
        Value::Array(items) => {
            let list_type = list_types.list_type(schema_path);
            if list_type == ListType::Atomic {
                return;
            }
            let elements: Vec<PathElement> = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item_element(&list_type, item, i, schema_path).unwrap_or(PathElement::Index(i))
                })
                .collect();
            let mut keep = Vec::with_capacity(items.len());
            for (item, pe) in items.drain(..).zip(elements) {
                match set.children.get(&pe) {
                    Some(child) if child.member => {}
                    Some(child) => {
                        let mut item = item;
                        remove_fields(&mut item, child, schema_path, list_types);
                        keep.push(item);
                    }
                    None => keep.push(item),
                }
            }
            *items = keep;
        }
        _ => {}
    }
}
