//! Schemas whose field types are known only at run time (bridges such as `northstar-tracing`,
//! where a field's type is seen when its value is visited, not at compile time).
//!
//! [`register`] is the cold-path counterpart of [`Callsite::id`]: it gives the id of a call
//! site for a list of type bytes chosen at run time, registering a new id (a new variant of
//! the call site) when this list was never seen for it. Records are then written with
//! [`Recorder::record_user_dyn`](crate::recorder::Recorder::record_user_dyn).

use super::{claim, find, Callsite, FieldType, RegisterError, MAX_FIELDS, OPTIONAL};

/// Why a run-time schema was not registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DynError {
    /// Every id of the table is taken.
    TableFull,
    /// `types` does not have one type byte per field of the call site's `Meta`.
    FieldCount {
        /// Fields in the call site's `Meta`.
        fields: usize,
        /// Type bytes given.
        types: usize,
    },
    /// A type byte that is not a [`FieldType`] (maybe `| OPTIONAL`).
    BadType(u8),
}

impl From<RegisterError> for DynError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::TableFull => Self::TableFull,
        }
    }
}

/// The id of `callsite` for fields of the given `types` (one per `Meta::fields` entry, in
/// order): an existing id of this call site with the same types, or a new one. Cold path: it
/// scans the ids handed out so far; call it once per (call site, types) and cache the id.
/// Lock-free and allocation-free like [`Callsite::id`].
pub fn register(callsite: &'static Callsite, types: &'static [u8]) -> Result<u32, DynError> {
    let fields = callsite.meta().fields.len();
    if types.len() != fields || fields > MAX_FIELDS {
        return Err(DynError::FieldCount {
            fields,
            types: types.len(),
        });
    }
    if let Some(&b) = types
        .iter()
        .find(|&&b| FieldType::from_byte(b & !OPTIONAL).is_none())
    {
        return Err(DynError::BadType(b));
    }
    if let Some(id) = find(callsite, types) {
        return Ok(id);
    }
    Ok(claim(callsite, types)? as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::{lookup, Meta};

    static META: Meta = Meta {
        name: "dyn.test",
        fields: &["a", "b"],
        consts: &[("level", "INFO")],
    };
    static SITE: Callsite = Callsite::new(&META);

    #[test]
    fn same_types_same_id_other_types_new_id() {
        static T1: [u8; 2] = [FieldType::U64 as u8, FieldType::Str as u8];
        static T1B: [u8; 2] = [FieldType::U64 as u8, FieldType::Str as u8];
        static T2: [u8; 2] = [FieldType::I64 as u8, FieldType::Str as u8];
        let a = register(&SITE, &T1).unwrap();
        assert_eq!(register(&SITE, &T1B).unwrap(), a);
        let b = register(&SITE, &T2).unwrap();
        assert_ne!(a, b);
        assert_eq!(lookup(a).unwrap().types, &T1);
        assert_eq!(lookup(b).unwrap().types, &T2);
        assert_eq!(lookup(b).unwrap().meta().name, "dyn.test");
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        static SHORT: [u8; 1] = [FieldType::U64 as u8];
        static BAD: [u8; 2] = [FieldType::U64 as u8, 99];
        assert_eq!(
            register(&SITE, &SHORT),
            Err(DynError::FieldCount {
                fields: 2,
                types: 1
            })
        );
        assert_eq!(register(&SITE, &BAD), Err(DynError::BadType(99)));
    }
}
