//! User-defined events in `record`'s JSON lines: the shape `query --format json` prints,
//! read back with their field types.
//!
//! ```json
//! {"event_type": "kv.wal_sync", "timestamp": 1704067200000000000, "actor_id": 0,
//!  "visibility": "public", "payload": {"bytes": 4096, "duration_ns": 1200, "file": "wal-1"},
//!  "types": {"bytes": "u64", "duration_ns": "duration_ns", "file": "str"}}
//! ```
//!
//! - `event_type` is the event's name; a name that is not one of the spec's types and holds a
//!   `.` or `:` (`kv.wal_sync`) is a user-defined event.
//! - `payload` holds its fields: numbers, strings, booleans, `null` (an absent optional).
//! - `types` (optional, any line of the type) declares field types: `u8` `u16` `u32` `u64`
//!   `i8` `i16` `i32` `i64` `f32` `f64` `bool` `duration_ns` `str` `bytes` (a hex string),
//!   a `?` suffix for an optional field (`"note": "str?"`), or `const` for a constant string
//!   (the same on every line, stored once per block like `unit = static "ns"`).
//! - Undeclared fields get a type from the values of **every** line of the type: integers
//!   `u64` (`i64` if one is negative), any fraction or exponent `f64` (the strings `"NaN"`,
//!   `"inf"`, `"-inf"` count as floats there, as `query` prints non-finite floats), strings
//!   `str`, booleans `bool`; a field that is `null` or missing on some line is optional, and
//!   a field that is `null` everywhere is `str?`.
//!
//! So every line `query` prints is accepted back, and recording it into another store gives
//! the same JSON again. Bad input is an error naming the line and field: an unknown type
//! name, values of different kinds in one field (`"a"` on line 3, `5` on line 9), lines
//! declaring different types for one field, a value outside its declared type, more than
//! [`MAX_FIELDS`] fields.

use crate::{at_path, err, kind, object, Envelope, JsonError, UserOut};
use northstar_core::user::{self, FieldType, MAX_FIELDS, OPTIONAL};
use northstar_core::{EventType, Visibility};
use serde::de::IgnoredAny;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Whether a parsed line is a user-defined event (its `event_type` is not a spec name and is
/// namespaced, `kv.wal_sync`).
pub fn is_user_event(v: &Value) -> bool {
    match v.get("event_type") {
        Some(Value::String(s)) => EventType::from_name(s).is_none() && user::is_namespaced(s),
        _ => false,
    }
}

/// The top level of a user event, as given (its payload and types are read by name).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UserTop<'v> {
    #[serde(borrow)]
    event_type: &'v str,
    timestamp: Option<u64>,
    actor_id: Option<u64>,
    #[serde(default, deserialize_with = "crate::visibility")]
    visibility: Option<Visibility>,
    #[allow(dead_code)]
    payload: Option<IgnoredAny>,
    event_id: Option<u64>,
    #[allow(dead_code)]
    types: Option<IgnoredAny>,
}

/// A value for an error message: a number or string as it is (cut), else its kind.
fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() <= 40 => format!("{s:?}"),
        Value::String(_) => "a long string".into(),
        Value::Number(n) => n.to_string(),
        v => kind(v).to_string(),
    }
}

/// A field's declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Declared {
    /// A runtime field: its type byte (`| OPTIONAL` for `T?`).
    Field(u8),
    /// A constant string.
    Const,
}

impl Declared {
    /// Parses a type name of the `types` object.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "const" {
            return Some(Self::Const);
        }
        let (base, opt) = match s.strip_suffix('?') {
            Some(b) => (b, OPTIONAL),
            None => (s, 0),
        };
        (1..=14u8)
            .filter_map(FieldType::from_byte)
            .find(|t| t.name() == base)
            .map(|t| Self::Field(t as u8 | opt))
    }

    /// Its name in the `types` object.
    pub fn name(self) -> String {
        match self {
            Self::Const => "const".into(),
            Self::Field(b) => {
                let base = FieldType::from_byte(b & !OPTIONAL).map_or("?", FieldType::name);
                if b & OPTIONAL != 0 {
                    format!("{base}?")
                } else {
                    base.to_string()
                }
            }
        }
    }
}

const TYPE_NAMES: &str =
    "u8, u16, u32, u64, i8, i16, i32, i64, f32, f64, bool, duration_ns, str, bytes (each with an optional ? suffix), const";

/// Where each kind of value was first seen in a field (line numbers).
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    uint: Option<usize>,
    /// Above `i64::MAX`.
    big: Option<usize>,
    neg: Option<usize>,
    float: Option<usize>,
    /// `"NaN"`, `"inf"`, `"-inf"`.
    nonfinite: Option<usize>,
    /// Any other string.
    string: Option<usize>,
    boolean: Option<usize>,
}

#[derive(Debug)]
struct FieldAcc {
    name: String,
    declared: Option<(Declared, usize)>,
    seen: Seen,
    /// Lines of the type that gave the field a non-null value.
    present: usize,
}

#[derive(Debug)]
struct TypeAcc {
    name: String,
    fields: Vec<FieldAcc>,
    lines: usize,
    first_line: usize,
}

#[derive(Debug)]
struct Line {
    no: usize,
    env: Envelope,
    ty: usize,
    /// Field index in the type, value (never `null`).
    values: Vec<(usize, Value)>,
}

/// The user-event lines of one input, collected so their types are known from all of them.
#[derive(Debug, Default)]
pub struct UserBatch {
    types: Vec<TypeAcc>,
    by_name: HashMap<String, usize>,
    lines: Vec<Line>,
}

/// A user event type as it will be stored: its fields, types and constants.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedType {
    /// Event name.
    pub name: String,
    /// Runtime fields: name, type byte.
    pub fields: Vec<(String, u8)>,
    /// Constant fields: name, value.
    pub consts: Vec<(String, String)>,
}

/// One user event, its values encoded for its type.
#[derive(Clone, Debug, PartialEq)]
pub struct UserEvent {
    /// Its line in the input.
    pub line: usize,
    /// Timestamp, actor, visibility.
    pub env: Envelope,
    /// Index of its type in [`Resolved::types`].
    pub ty: usize,
    /// Its values (docs/FORMAT.md, "User event payload", without the schema id).
    pub values: Vec<u8>,
}

/// Every user event of an input with the types they resolve to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resolved {
    /// The types, in order of first appearance.
    pub types: Vec<ResolvedType>,
    /// The events, in input order.
    pub events: Vec<UserEvent>,
}

fn is_nonfinite_name(s: &str) -> bool {
    matches!(s, "NaN" | "inf" | "-inf")
}

impl UserBatch {
    /// Whether no line was added.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Adds one user-event line (see [`is_user_event`]); `no` is its line number, used in
    /// later errors. The error of a malformed line names the field.
    pub fn add(&mut self, no: usize, v: &Value, default_timestamp: u64) -> Result<(), JsonError> {
        object(v, "")?;
        let top: UserTop<'_> = serde_path_to_error::deserialize(v).map_err(|e| at_path("", e))?;
        let name = top.event_type;
        let env = Envelope {
            timestamp: top.timestamp.unwrap_or(default_timestamp),
            actor_id: top.actor_id.unwrap_or(0),
            visibility: top.visibility.unwrap_or_default(),
            event_id: top.event_id,
        };
        let empty = Map::new();
        let payload = match v.get("payload") {
            None | Some(Value::Null) => &empty,
            Some(p) => object(p, "payload")?,
        };
        let types = match v.get("types") {
            None | Some(Value::Null) => None,
            Some(t) => Some(object(t, "types")?),
        };

        let ti = match self.by_name.get(name) {
            Some(&i) => i,
            None => {
                self.types.push(TypeAcc {
                    name: name.to_string(),
                    fields: Vec::new(),
                    lines: 0,
                    first_line: no,
                });
                self.by_name.insert(name.to_string(), self.types.len() - 1);
                self.types.len() - 1
            }
        };
        let ty = &mut self.types[ti];
        // Keep the number of distinct fields bounded whatever the input: the limit is
        // checked again, exactly, once constants are known.
        let field_index = |ty: &mut TypeAcc, key: &str| -> Result<usize, JsonError> {
            if let Some(i) = ty.fields.iter().position(|f| f.name == key) {
                return Ok(i);
            }
            if ty.fields.len() >= 4 * MAX_FIELDS {
                return err(
                    &format!("payload.{key}"),
                    format!("{} has too many fields (at most {MAX_FIELDS})", ty.name),
                );
            }
            ty.fields.push(FieldAcc {
                name: key.to_string(),
                declared: None,
                seen: Seen::default(),
                present: 0,
            });
            Ok(ty.fields.len() - 1)
        };
        // Fields in the payload's order, then any only `types` names.
        for key in payload.keys() {
            field_index(ty, key)?;
        }
        if let Some(types) = &types {
            for (key, t) in *types {
                let path = format!("types.{key}");
                let Value::String(s) = t else {
                    return err(&path, format!("expected a type name, found {}", kind(t)));
                };
                let Some(d) = Declared::parse(s) else {
                    return err(
                        &path,
                        format!("unknown field type {s:?} (expected one of: {TYPE_NAMES})"),
                    );
                };
                if !payload.contains_key(key) && d != Declared::Field(d.byte() | OPTIONAL) {
                    return err(
                        &format!("payload.{key}"),
                        format!("missing, but types declares it {s:?}"),
                    );
                }
                let i = field_index(ty, key)?;
                let f = &mut ty.fields[i];
                match f.declared {
                    Some((prev, at)) if prev != d => {
                        return err(
                            &path,
                            format!("type mismatch: {s:?} here, {:?} on line {at}", prev.name()),
                        )
                    }
                    Some(_) => {}
                    None => f.declared = Some((d, no)),
                }
            }
        }
        let mut values = Vec::with_capacity(payload.len());
        for (key, v) in payload {
            let i = field_index(ty, key)?;
            let f = &mut ty.fields[i];
            let first = |s: &mut Option<usize>| {
                s.get_or_insert(no);
            };
            match v {
                Value::Null => continue,
                Value::Bool(_) => first(&mut f.seen.boolean),
                Value::String(s) if is_nonfinite_name(s) => first(&mut f.seen.nonfinite),
                Value::String(_) => first(&mut f.seen.string),
                Value::Number(n) => {
                    if n.is_u64() {
                        if n.as_u64().is_some_and(|x| x > i64::MAX as u64) {
                            first(&mut f.seen.big);
                        } else {
                            first(&mut f.seen.uint);
                        }
                    } else if n.is_i64() {
                        first(&mut f.seen.neg);
                    } else {
                        first(&mut f.seen.float);
                    }
                }
                other => {
                    return err(
                        &format!("payload.{key}"),
                        format!(
                            "expected a number, string, boolean or null (user event fields hold no lists or objects), found {}",
                            kind(other)
                        ),
                    )
                }
            }
            f.present += 1;
            values.push((i, v.clone()));
        }
        ty.lines += 1;
        self.lines.push(Line {
            no,
            env,
            ty: ti,
            values,
        });
        Ok(())
    }

    /// Decides every type and encodes every event. The error names the line.
    pub fn resolve(self) -> Result<Resolved, (usize, JsonError)> {
        let mut types = Vec::with_capacity(self.types.len());
        // Per type: where each field goes (runtime index, or a constant).
        let mut slots: Vec<Vec<Slot>> = Vec::with_capacity(self.types.len());
        let mut by_type: Vec<Vec<&Line>> = vec![Vec::new(); self.types.len()];
        for l in &self.lines {
            by_type[l.ty].push(l);
        }
        for (t, lines) in self.types.iter().zip(&by_type) {
            let (rt, s) = resolve_type(t, lines)?;
            types.push(rt);
            slots.push(s);
        }
        let mut events = Vec::with_capacity(self.lines.len());
        for line in &self.lines {
            let rt = &types[line.ty];
            let slot = &slots[line.ty];
            let mut given: Vec<Option<&Value>> = vec![None; rt.fields.len()];
            for (fi, v) in &line.values {
                match slot[*fi] {
                    Slot::Runtime(k) => given[k] = Some(v),
                    Slot::Const => {}
                }
            }
            let mut out = Vec::new();
            for ((name, ty), v) in rt.fields.iter().zip(given) {
                encode_value(&mut out, *ty, v, name).map_err(|e| (line.no, e))?;
            }
            events.push(UserEvent {
                line: line.no,
                env: line.env,
                ty: line.ty,
                values: out,
            });
        }
        Ok(Resolved { types, events })
    }
}

impl Declared {
    fn byte(self) -> u8 {
        match self {
            Self::Field(b) => b & !OPTIONAL,
            Self::Const => 0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Runtime(usize),
    Const,
}

/// `lines`: the lines of type `t`.
fn resolve_type(
    t: &TypeAcc,
    lines: &[&Line],
) -> Result<(ResolvedType, Vec<Slot>), (usize, JsonError)> {
    let mut fields = Vec::new();
    let mut consts = Vec::new();
    let mut slots = Vec::with_capacity(t.fields.len());
    for (fi, f) in t.fields.iter().enumerate() {
        let path = format!("payload.{}", f.name);
        let optional = f.present < t.lines;
        match f.declared {
            Some((Declared::Const, at)) => {
                // The same string on every line.
                let mut value: Option<(&str, usize)> = None;
                for l in lines {
                    let v = l.values.iter().find(|(i, _)| *i == fi).map(|(_, v)| v);
                    match v {
                        Some(Value::String(s)) => match value {
                            Some((prev, pl)) if prev != s => {
                                return Err((
                                    l.no,
                                    JsonError {
                                        path,
                                        msg: format!(
                                            "constant {:?} is {s:?} here and {prev:?} on line {pl}",
                                            f.name
                                        ),
                                    },
                                ))
                            }
                            Some(_) => {}
                            None => value = Some((s, l.no)),
                        },
                        Some(other) => {
                            return Err((
                                l.no,
                                JsonError {
                                    path,
                                    msg: format!(
                                        "expected a string (declared const on line {at}), found {}",
                                        kind(other)
                                    ),
                                },
                            ))
                        }
                        None => {
                            return Err((
                                l.no,
                                JsonError {
                                    path,
                                    msg: format!("missing (declared const on line {at})"),
                                },
                            ))
                        }
                    }
                }
                consts.push((
                    f.name.clone(),
                    value.map_or(String::new(), |v| v.0.to_string()),
                ));
                slots.push(Slot::Const);
            }
            Some((Declared::Field(b), _)) => {
                slots.push(Slot::Runtime(fields.len()));
                fields.push((f.name.clone(), b));
            }
            None => {
                let b = infer(&f.seen).map_err(|(line, msg)| (line, JsonError { path, msg }))?;
                slots.push(Slot::Runtime(fields.len()));
                fields.push((f.name.clone(), b | if optional { OPTIONAL } else { 0 }));
            }
        }
    }
    if fields.len() > MAX_FIELDS {
        return Err((
            t.first_line,
            JsonError {
                path: "payload".into(),
                msg: format!(
                    "{} has {} fields besides its constants (at most {MAX_FIELDS})",
                    t.name,
                    fields.len()
                ),
            },
        ));
    }
    Ok((
        ResolvedType {
            name: t.name.clone(),
            fields,
            consts,
        },
        slots,
    ))
}

/// The type byte for the kinds of values a field had; an error names a line where kinds
/// clash.
fn infer(seen: &Seen) -> Result<u8, (usize, String)> {
    let numbers = [seen.uint, seen.big, seen.neg, seen.float]
        .into_iter()
        .flatten()
        .min();
    let clash = |a: usize, what_a: &str, b: usize, what_b: &str| {
        let (first, fa, second, fb) = if a <= b {
            (a, what_a, b, what_b)
        } else {
            (b, what_b, a, what_a)
        };
        Err((
            second,
            format!("type mismatch: {fb} here, {fa} on line {first} (declare the field in \"types\" to choose)"),
        ))
    };
    if let Some(b) = seen.boolean {
        if let Some(o) = numbers.or(seen.string).or(seen.nonfinite) {
            let what = if numbers == Some(o) {
                "a number"
            } else {
                "a string"
            };
            return clash(b, "a boolean", o, what);
        }
        return Ok(FieldType::Bool as u8);
    }
    if let Some(sl) = seen.string {
        if let Some(n) = numbers {
            return clash(sl, "a string", n, "a number");
        }
        return Ok(FieldType::Str as u8);
    }
    if numbers.is_none() {
        // Only "NaN"/"inf" strings: strings; only nulls: an optional string.
        return Ok(FieldType::Str as u8);
    }
    if seen.float.is_some() || seen.nonfinite.is_some() {
        return Ok(FieldType::F64 as u8);
    }
    if let (Some(n), Some(b)) = (seen.neg, seen.big) {
        return clash(n, "a negative integer", b, "an integer above 2^63-1");
    }
    Ok(if seen.neg.is_some() {
        FieldType::I64 as u8
    } else {
        FieldType::U64 as u8
    })
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// Appends one value in its wire type (docs/FORMAT.md); `None` is a missing or null value.
fn encode_value(out: &mut Vec<u8>, ty: u8, v: Option<&Value>, name: &str) -> Result<(), JsonError> {
    let path = format!("payload.{name}");
    let base = ty & !OPTIONAL;
    let tname = FieldType::from_byte(base).map_or("?", FieldType::name);
    let Some(v) = v else {
        if ty & OPTIONAL != 0 {
            out.push(0);
            return Ok(());
        }
        return err(
            &path,
            format!("missing or null, but the field is a {tname} (not optional)"),
        );
    };
    if ty & OPTIONAL != 0 {
        out.push(1);
    }
    let bad = |what: &str| -> Result<(), JsonError> {
        err(
            &path,
            format!("expected {what} ({tname}), found {}", show_value(v)),
        )
    };
    let float = || -> Option<f64> {
        match v {
            Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            v => v.as_f64(),
        }
    };
    macro_rules! unsigned {
        ($t:ty) => {
            match v.as_u64().and_then(|x| <$t>::try_from(x).ok()) {
                Some(x) => out.extend_from_slice(&x.to_le_bytes()),
                None => return bad(&format!("an integer from 0 to {}", <$t>::MAX)),
            }
        };
    }
    macro_rules! signed {
        ($t:ty) => {
            match v.as_i64().and_then(|x| <$t>::try_from(x).ok()) {
                Some(x) => out.extend_from_slice(&x.to_le_bytes()),
                None => return bad(&format!("an integer from {} to {}", <$t>::MIN, <$t>::MAX)),
            }
        };
    }
    match FieldType::from_byte(base) {
        Some(FieldType::U8) => unsigned!(u8),
        Some(FieldType::U16) => unsigned!(u16),
        Some(FieldType::U32) => unsigned!(u32),
        Some(FieldType::U64) => unsigned!(u64),
        Some(FieldType::DurationNs) => unsigned!(u64),
        Some(FieldType::I8) => signed!(i8),
        Some(FieldType::I16) => signed!(i16),
        Some(FieldType::I32) => signed!(i32),
        Some(FieldType::I64) => signed!(i64),
        Some(FieldType::F32) => match float() {
            Some(x) if x.is_finite() && !(x as f32).is_finite() => {
                return bad("a number within f32's range")
            }
            Some(x) => out.extend_from_slice(&(x as f32).to_le_bytes()),
            None => return bad("a number"),
        },
        Some(FieldType::F64) => match float() {
            Some(x) => out.extend_from_slice(&x.to_le_bytes()),
            None => return bad("a number"),
        },
        Some(FieldType::Bool) => match v.as_bool() {
            Some(b) => out.push(b as u8),
            None => return bad("true or false"),
        },
        Some(FieldType::Str) => match v.as_str() {
            Some(s) => {
                let Ok(n) = u32::try_from(s.len()) else {
                    return bad("a shorter string");
                };
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            None => return bad("a string"),
        },
        Some(FieldType::Bytes) => match v.as_str().and_then(hex) {
            Some(b) => {
                let Ok(n) = u32::try_from(b.len()) else {
                    return bad("fewer bytes");
                };
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(&b);
            }
            None => return bad("a hex string of an even length"),
        },
        None => return err(&path, format!("type byte {ty:#x} is not a field type")),
    }
    Ok(())
}

impl ResolvedType {
    /// The definition payload of this type under schema id `id` (docs/FORMAT.md,
    /// "Definition payload").
    pub fn definition_payload(&self, id: u32) -> Vec<u8> {
        let mut out = id.to_le_bytes().to_vec();
        let s = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        s(&mut out, &self.name);
        out.extend_from_slice(&(self.fields.len() as u32).to_le_bytes());
        for (n, t) in &self.fields {
            s(&mut out, n);
            out.push(*t);
        }
        out.extend_from_slice(&(self.consts.len() as u32).to_le_bytes());
        for (k, v) in &self.consts {
            s(&mut out, k);
            s(&mut out, v);
        }
        out
    }

    /// The `types` object declaring every field of this type.
    pub fn types_json(&self) -> Value {
        let mut m = Map::new();
        for (n, t) in &self.fields {
            m.insert(n.clone(), Declared::Field(*t).name().into());
        }
        for (k, _) in &self.consts {
            m.insert(k.clone(), "const".into());
        }
        Value::Object(m)
    }

    /// Registers this type in the process's schema table (as a call site of its own) and
    /// returns its schema id, for `northstar_store::EventManager::record_user_at`. Leaks the
    /// names: once per type per run, bounded by the table's size.
    pub fn register(&self) -> Result<u32, RegisterError> {
        fn leak(s: &str) -> &'static str {
            Box::leak(s.to_owned().into_boxed_str())
        }
        let fields: Vec<&'static str> = self.fields.iter().map(|(n, _)| leak(n)).collect();
        let consts: Vec<(&'static str, &'static str)> = self
            .consts
            .iter()
            .map(|(k, v)| (leak(k), leak(v)))
            .collect();
        let meta: &'static user::Meta = Box::leak(Box::new(user::Meta {
            name: leak(&self.name),
            fields: Box::leak(fields.into_boxed_slice()),
            consts: Box::leak(consts.into_boxed_slice()),
        }));
        let callsite: &'static user::Callsite = Box::leak(Box::new(user::Callsite::new(meta)));
        let types: &'static [u8] = Box::leak(
            self.fields
                .iter()
                .map(|(_, t)| *t)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        user::dynamic::register(callsite, types).map_err(RegisterError)
    }
}

/// Why [`ResolvedType::register`] failed: the core's reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterError(pub user::dynamic::DynError);

impl std::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            user::dynamic::DynError::TableFull => {
                f.write_str("the process's table of user event schemas is full")
            }
            e => write!(f, "cannot register the schema: {e:?}"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// A user event as `query --format json` prints it, plus `types` when `with_types`.
pub fn event_json(rt: &ResolvedType, ev: &UserEvent, with_types: bool) -> Value {
    let def_bytes = rt.definition_payload(0);
    let mut payload = Map::new();
    if let Ok(def) = user::decode_definition(&def_bytes) {
        let mut record = 0u32.to_le_bytes().to_vec();
        record.extend_from_slice(&ev.values);
        for (k, v) in user::values(&def, &record) {
            payload.insert(k.to_string(), crate::user_value_json(&v));
        }
    }
    for (k, v) in &rt.consts {
        payload.insert(k.clone(), v.clone().into());
    }
    UserOut {
        event_type: &rt.name,
        timestamp: ev.env.timestamp,
        actor_id: ev.env.actor_id,
        visibility: ev.env.visibility,
        payload,
        event_id: None,
        types: with_types.then(|| rt.types_json()),
    }
    .json()
}

/// The fuzz target's user-event part: the user-event lines of `text`, if they resolve, must
/// encode to values their own definition accepts, and printing them (with their types) and
/// reading that back must give the same types and bytes. Panics on any violation.
pub fn fuzz_user_lines(text: &str) {
    let mut batch = UserBatch::default();
    for (i, line) in text.lines().enumerate() {
        let Ok(v) = crate::parse_value(line) else {
            continue;
        };
        if is_user_event(&v) {
            let _ = batch.add(i + 1, &v, 0);
        }
    }
    let Ok(first) = batch.resolve() else { return };
    let mut again = UserBatch::default();
    for (i, ev) in first.events.iter().enumerate() {
        let rt = &first.types[ev.ty];
        let def_bytes = rt.definition_payload(7);
        let def = user::decode_definition(&def_bytes).expect("own definition decodes");
        let mut record = 7u32.to_le_bytes().to_vec();
        record.extend_from_slice(&ev.values);
        user::check_values(&def, &record).expect("own values match own definition");
        let printed = event_json(rt, ev, true);
        again
            .add(i + 1, &printed, 0)
            .expect("printed user event parses");
    }
    let second = again.resolve().expect("printed user events resolve");
    // Only types that have events are printed, so only those can come back (a type can be
    // declared, or registered by a line refused later, without any event of it).
    fn with_events(r: &Resolved) -> Vec<&ResolvedType> {
        let mut t: Vec<&ResolvedType> = r
            .types
            .iter()
            .enumerate()
            .filter(|(k, _)| r.events.iter().any(|e| e.ty == *k))
            .map(|(_, t)| t)
            .collect();
        t.sort_by(|a, b| a.name.cmp(&b.name));
        t
    }
    assert_eq!(
        with_events(&first),
        with_events(&second),
        "types changed through JSON"
    );
    let bytes = |r: &Resolved| {
        r.events
            .iter()
            .map(|e| e.values.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(bytes(&first), bytes(&second), "values changed through JSON");
}
