//! The eleven event types with the spec's 16-bit codes, and the three visibility levels.

/// Every event type the spec defines, with its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum EventType {
    /// An agent starts a session.
    AgentSessionStarted = 0x1000,
    /// An agent session ends.
    AgentSessionEnded = 0x1001,
    /// An agent performs an operation (read, write, commit, query...).
    AgentOperation = 0x1002,
    /// A review note linked to a code artifact.
    ReviewNote = 0x2000,
    /// A generated summary of code changes.
    ReviewSummary = 0x2001,
    /// A performance metric sample.
    PerfSample = 0x3000,
    /// A detected performance regression.
    PerfRegression = 0x3001,
    /// A debugging session.
    DebugSession = 0x4000,
    /// A snapshot of debug state at a point in time.
    DebugSnapshot = 0x4001,
    /// A VCS commit.
    VcsCommit = 0x5000,
    /// A VCS branch and where it points.
    VcsBranch = 0x5001,
}

impl EventType {
    /// All event types, in code order.
    pub const ALL: [EventType; 11] = [
        Self::AgentSessionStarted,
        Self::AgentSessionEnded,
        Self::AgentOperation,
        Self::ReviewNote,
        Self::ReviewSummary,
        Self::PerfSample,
        Self::PerfRegression,
        Self::DebugSession,
        Self::DebugSnapshot,
        Self::VcsCommit,
        Self::VcsBranch,
    ];

    /// The spec's 16-bit code.
    #[inline]
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The type for a spec code.
    pub const fn from_code(code: u16) -> Option<Self> {
        if code & 0x0ff0 != 0 {
            return None;
        }
        Self::from_compact(((code >> 8) as u8 & 0xf0) | (code as u8 & 0x0f))
    }

    /// The one-byte form stored in a record header: category nibble, then subtype nibble.
    #[inline(always)]
    pub const fn compact(self) -> u8 {
        let code = self as u16;
        (((code >> 12) as u8) << 4) | (code as u8 & 0x0f)
    }

    /// The type for a header's compact byte.
    pub const fn from_compact(byte: u8) -> Option<Self> {
        Some(match byte {
            0x10 => Self::AgentSessionStarted,
            0x11 => Self::AgentSessionEnded,
            0x12 => Self::AgentOperation,
            0x20 => Self::ReviewNote,
            0x21 => Self::ReviewSummary,
            0x30 => Self::PerfSample,
            0x31 => Self::PerfRegression,
            0x40 => Self::DebugSession,
            0x41 => Self::DebugSnapshot,
            0x50 => Self::VcsCommit,
            0x51 => Self::VcsBranch,
            _ => return None,
        })
    }

    /// The spec's snake_case name, as used in JSON (`"perf_sample"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::AgentSessionStarted => "agent_session_started",
            Self::AgentSessionEnded => "agent_session_ended",
            Self::AgentOperation => "agent_operation",
            Self::ReviewNote => "review_note",
            Self::ReviewSummary => "review_summary",
            Self::PerfSample => "perf_sample",
            Self::PerfRegression => "perf_regression",
            Self::DebugSession => "debug_session",
            Self::DebugSnapshot => "debug_snapshot",
            Self::VcsCommit => "vcs_commit",
            Self::VcsBranch => "vcs_branch",
        }
    }

    /// The type for a spec name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// A bit unique to this type, for compact type sets in indexes (`1 << index`).
    #[inline]
    pub const fn bit(self) -> u16 {
        1 << self.index()
    }

    /// Position in [`EventType::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Self::AgentSessionStarted => 0,
            Self::AgentSessionEnded => 1,
            Self::AgentOperation => 2,
            Self::ReviewNote => 3,
            Self::ReviewSummary => 4,
            Self::PerfSample => 5,
            Self::PerfRegression => 6,
            Self::DebugSession => 7,
            Self::DebugSnapshot => 8,
            Self::VcsCommit => 9,
            Self::VcsBranch => 10,
        }
    }

    /// Whether the payload has its own `session_id` field (the agent_* and debug_* events; the
    /// spec's JSON shows it at the top level). Perf samples name sessions in
    /// `correlation_hints.session_ids` instead.
    pub const fn has_session_id(self) -> bool {
        matches!(
            self,
            Self::AgentSessionStarted
                | Self::AgentSessionEnded
                | Self::AgentOperation
                | Self::DebugSession
                | Self::DebugSnapshot
        )
    }

    /// Whether the spec's JSON names this type's actor `agent_id` (the agent_* events) rather
    /// than `actor_id`.
    pub const fn actor_is_agent(self) -> bool {
        matches!(
            self,
            Self::AgentSessionStarted | Self::AgentSessionEnded | Self::AgentOperation
        )
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
