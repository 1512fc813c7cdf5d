//! The event types' codes and compact form, and the three visibility levels. The types
//! themselves are defined once, with their payloads, in [`crate::events`].

pub use crate::events::EventType;

impl EventType {
    /// The spec's 16-bit code.
    #[inline]
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The type for a spec code.
    #[inline]
    pub const fn from_code(code: u16) -> Option<Self> {
        Self::from_exact_code(code)
    }

    /// The one-byte form stored in a record header: category nibble, then subtype nibble.
    #[inline(always)]
    pub const fn compact(self) -> u8 {
        let code = self as u16;
        (((code >> 12) as u8) << 4) | (code as u8 & 0x0f)
    }

    /// The type for a header's compact byte.
    #[inline]
    pub const fn from_compact(byte: u8) -> Option<Self> {
        Self::from_exact_code((((byte & 0xf0) as u16) << 8) | (byte & 0x0f) as u16)
    }

    /// The type for a spec name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    // `bit` needs one bit per type.
    const _FITS_IN_BIT: () = assert!(EventType::COUNT <= 16);

    /// A bit unique to this type, for compact type sets in indexes (`1 << index`).
    #[inline]
    pub const fn bit(self) -> u16 {
        1 << self.index()
    }

    /// Whether the spec's JSON names this type's actor `agent_id` (the agent_* events) rather
    /// than `actor_id`.
    pub const fn actor_is_agent(self) -> bool {
        matches!(self.payload_actor_name(), Some(n) if crate::visit::str_eq(n, "agent_id"))
    }
}

impl core::fmt::Display for EventType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who may see an event (the spec's "Event Visibility Levels").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Visibility {
    /// Visible to everyone. The default: telemetry is shared unless said otherwise.
    #[default]
    Public = 0,
    /// Shared within the creating actor's team.
    Team = 1,
    /// Visible only to the creating actor.
    Private = 2,
}

impl Visibility {
    /// The value for the header's two visibility bits; 3 is reserved.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0 => Some(Self::Public),
            1 => Some(Self::Team),
            2 => Some(Self::Private),
            _ => None,
        }
    }

    /// The spec's name: `"private"`, `"team"` or `"public"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Team => "team",
            Self::Private => "private",
        }
    }

    /// The level for a spec name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "public" => Some(Self::Public),
            "team" => Some(Self::Team),
            "private" => Some(Self::Private),
            _ => None,
        }
    }
}

impl core::fmt::Display for Visibility {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// By its spec name: `"public"`, `"team"` or `"private"`.
#[cfg(feature = "serde")]
impl serde::Serialize for Visibility {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Visibility {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = Visibility;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("private, team or public")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Visibility, E> {
                Visibility::from_name(s).ok_or_else(|| {
                    E::custom(format_args!(
                        "unknown visibility {s:?} (expected private, team or public)"
                    ))
                })
            }
        }
        d.deserialize_str(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_compact_and_names() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_compact(t.compact()), Some(t));
            assert_eq!(EventType::from_code(t.code()), Some(t));
            assert_eq!(EventType::from_name(t.name()), Some(t));
        }
        assert_eq!(EventType::PerfSample.code(), 0x3000);
        assert_eq!(EventType::VcsBranch.compact(), 0x51);
        assert_eq!(EventType::from_code(0x3010), None);
        assert_eq!(EventType::from_code(0x6000), None);
        assert_eq!(EventType::from_compact(0), None);
    }

    #[test]
    fn visibility_bits() {
        for v in [Visibility::Public, Visibility::Team, Visibility::Private] {
            assert_eq!(Visibility::from_bits(v as u8), Some(v));
            assert_eq!(Visibility::from_name(v.name()), Some(v));
        }
        assert_eq!(Visibility::from_bits(3), None);
    }
}
