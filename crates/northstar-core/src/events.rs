//! The payloads of the event types, and the one table that defines the types ([`EventType`],
//! [`Event`]).
//!
//! Each payload holds the spec's fields except the ones the record header already carries: the
//! actor (`agent_id`, `author`, `generator_id`, `author_id`) is the header's `actor_id`, and
//! visibility and the event timestamp are header fields too. Strings borrow (`&'a str`); lists
//! and maps are [`List`]s, so the same struct is the input of encoding and the zero-copy result
//! of decoding. Fields the spec does not list are marked "addition" and documented in
//! `docs/FORMAT.md`.

use crate::codec::{DecodeError, EncodeError, Field, List, Reader, StrList, StrMap, Writer};
use crate::visit::{is_session_field, FieldInfo, Group, Kind, Sessions, Visit, VisitField};

/// A typed event payload.
pub trait Payload<'a>: Sized {
    /// The event type this payload belongs to.
    const EVENT_TYPE: EventType;

    /// Exact encoded size in bytes.
    fn encoded_len(&self) -> usize;

    /// Writes the payload at the start of `out`; returns the bytes written.
    fn encode_into(&self, out: &mut [u8]) -> Result<usize, EncodeError>;

    /// Decodes and validates a payload that must span `bytes` exactly.
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError>;

    /// The payload's fields, in encoding order, with their spec names and kinds.
    const FIELDS: &'static [FieldInfo];

    /// Whether the payload has its own `session_id` field.
    const HAS_SESSION_ID: bool;

    /// Whether the payload names sessions at all (a `session_id` field, or a `session_ids`
    /// list at any depth).
    const HAS_SESSIONS: bool;

    /// Walks every field, in encoding order, under its spec name.
    fn visit_fields<V: Visit<'a> + ?Sized>(&self, v: &mut V);

    /// The payload's own `session_id` field, if it has one.
    fn session_id(&self) -> Option<u64>;

    /// Calls `f` with every session id of the encoded payload `bytes`, as
    /// [`Event::for_each_session`] would after decoding it, but decoding only the fields
    /// that can hold sessions and skipping the rest ([`Field::skip`]): the index reads every
    /// record of a segment for its sessions only, and a full decode (every string's UTF-8
    /// checked) was most of its time. Checks less than [`Payload::decode`]: a payload it
    /// accepts may still fail to decode (its sessions are then reported, which a membership
    /// filter may hold), but a payload that decodes is accepted with the same sessions.
    fn for_each_session_in(bytes: &'a [u8], f: &mut dyn FnMut(u64)) -> Result<(), DecodeError>;
}

/// Whether [`Payload::for_each_session_in`] must decode a field named `name` (one whose type
/// holds sessions when nested, `has_sessions`) to find its sessions: exactly the fields
/// [`Sessions`] can report from.
const fn session_walk_needs(name: &str, has_sessions: bool) -> bool {
    has_sessions
        || crate::visit::str_eq(name, "session_id")
        || crate::visit::str_eq(name, "session_ids")
}

macro_rules! payload {
    (
        $(#[$m:meta])*
        pub struct $name:ident $(<$lt:lifetime>)? : $ty:ident {
            $( $(#[$fm:meta])* pub $field:ident : $fty:ty $(= $def:tt)? ),* $(,)?
        }
    ) => {
        payload!(@field $(#[$m])* pub struct $name $(<$lt>)? {
            $( $(#[$fm])* pub $field: $fty $(= $def)?, )*
        });
        payload!(@payload $name $(<$lt>)? : $ty { $($field: $fty),* });
    };
    (@payload $name:ident $(<$lt:lifetime>)? : $ty:ident { $($field:ident: $fty:ty),* }) => {
        impl<'a> Payload<'a> for $name $(<$lt>)? {
            const EVENT_TYPE: EventType = EventType::$ty;
            const FIELDS: &'static [FieldInfo] = match <Self as VisitField<'a>>::KIND {
                Kind::Struct(fields) => fields,
                _ => &[],
            };
            const HAS_SESSIONS: bool = <Self as VisitField<'a>>::HAS_SESSIONS;
            const HAS_SESSION_ID: bool = false $( || has_session_id!($field) )*;
            #[inline(always)]
            fn encoded_len(&self) -> usize { Field::encoded_len(self) }
            #[inline(always)]
            fn encode_into(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                let needed = Field::encoded_len(self);
                let mut w = Writer::new(out);
                Field::encode(self, &mut w);
                w.finish(needed)
            }
            fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
                let mut r = Reader::new(bytes);
                let v = <Self as Field<'a>>::decode(&mut r)?;
                r.finish()?;
                Ok(v)
            }
            fn visit_fields<V: Visit<'a> + ?Sized>(&self, v: &mut V) {
                $( VisitField::visit_field(&self.$field, stringify!($field), v); )*
            }
            fn for_each_session_in(bytes: &'a [u8], f: &mut dyn FnMut(u64)) -> Result<(), DecodeError> {
                if !<Self as Payload<'a>>::HAS_SESSIONS {
                    return Ok(());
                }
                let mut r = Reader::new(bytes);
                $(
                    // A field that may hold sessions is decoded and walked as in
                    // `Event::for_each_session`; any other is only skipped.
                    if session_walk_needs(stringify!($field), <$fty as VisitField<'a>>::HAS_SESSIONS) {
                        let value = <$fty as Field<'a>>::decode(&mut r)?;
                        VisitField::visit_field(&value, stringify!($field), &mut Sessions::new(&mut *f));
                    } else {
                        <$fty as Field<'a>>::skip(&mut r)?;
                    }
                )*
                r.finish()
            }
            fn session_id(&self) -> Option<u64> {
                None::<u64> $( .or(session_id_of!($field, self)) )*
            }
        }
    };
    // Helper structs that are fields, not payloads. `= default` after a field's type is its JSON
    // default (`= required`: none, the field must be given); see `crate::json`.
    (@field $(#[$m:meta])* pub struct $name:ident $(<$lt:lifetime>)? {
        $( $(#[$fm:meta])* pub $field:ident : $fty:ty $(= $def:tt)? ),* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        pub struct $name $(<$lt>)? {
            $( $(#[$fm])* pub $field: $fty, )*
        }

        impl<'a> Field<'a> for $name $(<$lt>)? {
            #[inline(always)]
            fn encoded_len(&self) -> usize { 0 $( + self.$field.encoded_len() )* }
            #[inline(always)]
            fn encode(&self, w: &mut Writer<'_>) { $( self.$field.encode(w); )* }
            fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
                Ok(Self { $( $field: <$fty as Field<'a>>::decode(r)?, )* })
            }
            fn skip(r: &mut Reader<'a>) -> Result<(), DecodeError> {
                $( <$fty as Field<'a>>::skip(r)?; )*
                Ok(())
            }
        }

        impl<'a> VisitField<'a> for $name $(<$lt>)? {
            const KIND: Kind = Kind::Struct(&[
                $( FieldInfo { name: stringify!($field), kind: <$fty as VisitField<'a>>::KIND }, )*
            ]);
            const HAS_SESSIONS: bool = false $(
                || is_session_field(stringify!($field), <$fty as VisitField<'a>>::KIND)
                || <$fty as VisitField<'a>>::HAS_SESSIONS
            )*;
            fn visit_field<V: Visit<'a> + ?Sized>(&self, name: &str, v: &mut V) {
                if !v.wants(name, Group::Struct) {
                    return;
                }
                v.begin(name, Group::Struct);
                $( VisitField::visit_field(&self.$field, stringify!($field), v); )*
                v.end();
            }
        }

        // What serde reads for this struct, and the struct made from it (`crate::json`).
        #[cfg(feature = "serde")]
        const _: () = {
            use $crate::json::{Context, JsonField, ListIn};

            /// The JSON input of the struct: the same fields, as serde reads them.
            #[derive(Debug, serde::Deserialize)]
            #[serde(deny_unknown_fields, bound(deserialize = "'de: 'a"))]
            pub struct In<'a> {
                $( $(#[$fm])* pub $field: json_in!('a, [$($def)?] $fty), )*
                #[serde(skip)]
                _lifetime: core::marker::PhantomData<&'a ()>,
            }

            impl<'a> JsonField<'a> for $name $(<$lt>)? {
                type In = In<'a>;
                #[allow(unused_parens, unused_braces)]
                fn from_json(input: &'a In<'a>, cx: &Context) -> Self {
                    Self { $( $field: json_from!([$($def)?] $fty, &input.$field, cx), )* }
                }
                #[allow(unused_parens, unused_braces)]
                fn absent(cx: &Context) -> Self {
                    Self { $( $field: json_absent!([$($def)?] $fty, cx), )* }
                }
            }

            impl<'a> JsonField<'a> for List<'a, $name $(<$lt>)?> {
                type In = ListIn<'a, $name $(<$lt>)?>;
                fn from_json(input: &'a Self::In, cx: &Context) -> Self {
                    input.view(cx)
                }
                fn absent(_: &Context) -> Self {
                    List::EMPTY
                }
            }
        };
    };
}

/// The type serde reads for a field: required, the field's own input type; otherwise an
/// `Option` of it (left out or `null`: the default).
#[cfg(feature = "serde")]
macro_rules! json_in {
    ($l:lifetime, [required] $t:ty) => { <$t as $crate::json::JsonField<$l>>::In };
    ($l:lifetime, [$($def:tt)?] $t:ty) => { Option<<$t as $crate::json::JsonField<$l>>::In> };
}

/// A field made from what serde read (see `json_in`).
#[cfg(feature = "serde")]
macro_rules! json_from {
    ([required] $t:ty, $input:expr, $cx:expr) => {
        <$t as $crate::json::JsonField<'_>>::from_json($input, $cx)
    };
    ([] $t:ty, $input:expr, $cx:expr) => {
        match $input {
            Some(x) => <$t as $crate::json::JsonField<'_>>::from_json(x, $cx),
            None => <$t as $crate::json::JsonField<'_>>::absent($cx),
        }
    };
    ([$def:tt] $t:ty, $input:expr, $cx:expr) => {
        match $input {
            Some(x) => <$t as $crate::json::JsonField<'_>>::from_json(x, $cx),
            None => $def,
        }
    };
}

/// A field of a struct the JSON leaves out altogether.
#[cfg(feature = "serde")]
macro_rules! json_absent {
    ([required] $t:ty, $cx:expr) => {
        <$t as $crate::json::JsonField<'_>>::absent($cx)
    };
    ([] $t:ty, $cx:expr) => {
        <$t as $crate::json::JsonField<'_>>::absent($cx)
    };
    ([$def:tt] $t:ty, $cx:expr) => {
        $def
    };
}

/// One-byte enum fields: codec, names and (with `serde`) their JSON.
macro_rules! enum_field {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident = $value:literal => $text:literal),* $(,)? }) => {
        crate::__enum_field! {
            $(#[$m])* pub enum $name { $($(#[$vm])* $variant = $value => $text),* }
        }
        #[cfg(feature = "serde")]
        crate::__enum_serde!($name, [$($text),*]);
    };
}

/// Whether a payload field is its own `session_id`.
macro_rules! has_session_id {
    (session_id) => {
        true
    };
    ($other:ident) => {
        false
    };
}

/// Reads a payload's `session_id` field, for the payloads that have one.
macro_rules! session_id_of {
    (session_id, $s:ident) => {
        Some($s.session_id)
    };
    ($other:ident, $s:ident) => {
        None
    };
}

// ---------------------------------------------------------------- agent lifecycle

payload! {
    /// `agent_session_started` (0x1000). Actor: `agent_id`.
    pub struct AgentSessionStarted<'a>: AgentSessionStarted {
        /// Addition: the id of the session being started, so the session can be queried from
        /// its first event (`agent_session_ended` and `agent_operation` carry it too).
        /// JSON: at the event's top level.
        #[cfg_attr(feature = "serde", serde(skip_serializing))]
        pub session_id: u64,
        /// Version string of the agent.
        pub agent_version: &'a str,
        /// Why the session was started.
        pub session_purpose: &'a str,
        /// Additional key-value metadata.
        pub metadata: StrMap<'a>,
    }
}

payload! {
    /// `agent_session_ended` (0x1001). Actor: `agent_id`.
    pub struct AgentSessionEnded: AgentSessionEnded {
        /// Session identifier (JSON: at the event's top level).
        #[cfg_attr(feature = "serde", serde(skip_serializing))]
        pub session_id: u64,
    }
}

payload! {
    /// `agent_operation` (0x1002). Actor: `agent_id`.
    pub struct AgentOperation<'a>: AgentOperation {
        /// Session identifier (JSON: at the event's top level).
        #[cfg_attr(feature = "serde", serde(skip_serializing))]
        pub session_id: u64,
        /// Type of operation ("commit", "query", "read"...).
        pub operation_type: &'a str = required,
        /// Unique operation identifier.
        pub operation_id: u64,
        /// Type of target ("file", "symbol", "btree"...).
        pub target_type: &'a str,
        /// Identifier of the target.
        pub target_id: &'a str,
        /// Operation status ("started", "completed", "failed").
        pub status: &'a str = "completed",
        /// Duration in nanoseconds, when known.
        pub duration_ns: Option<i64>,
        /// Additional metadata.
        pub metadata: StrMap<'a>,
    }
}

// ---------------------------------------------------------------- review

payload! {
    /// `review_note` (0x2000). Actor: `author`; visibility in the header.
    pub struct ReviewNote<'a>: ReviewNote {
        /// Type of target ("commit", "file", "symbol", "pr").
        pub target_type: &'a str = required,
        /// Identifier of the target.
        pub target_id: &'a str = required,
        /// The note's text.
        pub note_text: &'a str = required,
        /// Ids of related items.
        pub references: StrList<'a>,
        /// Unix nanoseconds when the note was created.
        pub created_at: i64,
    }
}

payload! {
    /// `review_summary` (0x2001). Actor: `generator_id`.
    pub struct ReviewSummary<'a>: ReviewSummary {
        /// Type of target.
        pub target_type: &'a str = required,
        /// Target identifier.
        pub target_id: &'a str = required,
        /// The generated summary.
        pub summary_text: &'a str = required,
        /// Confidence score, 0.0 to 1.0.
        pub confidence: f32,
        /// Model that produced the summary.
        pub model_id: &'a str,
        /// Prompt identifier, when known.
        pub prompt_hash: Option<&'a str>,
        /// Unix nanoseconds when the summary was created.
        pub created_at: i64,
    }
}

// ---------------------------------------------------------------- performance

payload! {
    @field
    /// `timestamp_window`: the time span a sample covers, Unix nanoseconds.
    pub struct TimeWindow {
        /// Start of the window.
        pub start: i64,
        /// End of the window.
        pub end: i64,
    }
}

payload! {
    @field
    /// `correlation_hints`: what a sample may be correlated with.
    pub struct CorrelationHints<'a> {
        /// Commit range, e.g. `"abc123..def456"`.
        pub commit_range: Option<&'a str>,
        /// Sessions the sample belongs to.
        pub session_ids: List<'a, u64>,
    }
}

impl CorrelationHints<'_> {
    /// No commit range and no sessions.
    pub const NONE: Self = Self {
        commit_range: None,
        session_ids: List::EMPTY,
    };
}

payload! {
    /// `perf_sample` (0x3000). The actor is optional (0: none).
    pub struct PerfSample<'a>: PerfSample {
        /// Metric name, e.g. `"latency_p99_ns"`.
        pub metric_name: &'a str = required,
        /// Dimensions for filtering, e.g. `benchmark=btree_point_get`.
        pub dimensions: StrMap<'a>,
        /// The value.
        pub value: f64 = required,
        /// Unit ("ns", "ms", "ops/sec"...).
        pub unit: &'a str,
        /// The time span the sample covers.
        pub timestamp_window: TimeWindow,
        /// Correlation data.
        pub correlation_hints: CorrelationHints<'a>,
    }
}

enum_field! {
    /// Severity band of a regression (the spec: minor < 20%, moderate 20-50%, severe > 50%).
    pub enum Severity {
        /// Regression under 20%.
        Minor = 0 => "minor",
        /// Regression from 20% to 50%.
        Moderate = 1 => "moderate",
        /// Regression over 50%.
        Severe = 2 => "severe",
    }
}

impl Severity {
    /// The spec's band for a regression percentage.
    pub fn from_percent(percent: f64) -> Self {
        if percent > 50.0 {
            Self::Severe
        } else if percent >= 20.0 {
            Self::Moderate
        } else {
            Self::Minor
        }
    }
}

payload! {
    /// `perf_regression` (0x3001).
    pub struct PerfRegression<'a>: PerfRegression {
        /// Name of the regressed metric.
        pub metric_name: &'a str = required,
        /// Previous baseline value.
        pub baseline_value: f64 = required,
        /// Current (regressed) value.
        pub current_value: f64 = required,
        /// Percentage of regression.
        pub regression_percent: f32,
        /// Severity band.
        pub severity: Severity,
        /// Unix nanoseconds when the regression was detected.
        pub detected_at: i64,
        /// Suspected cause, when known.
        pub likely_cause: Option<&'a str>,
        /// Related commit hashes.
        pub correlated_commits: StrList<'a>,
    }
}

// ---------------------------------------------------------------- debug

payload! {
    @field
    /// A breakpoint set during a debug session.
    pub struct Breakpoint<'a> {
        /// Source file.
        pub file_path: &'a str = required,
        /// Line number.
        pub line: u32,
        /// Condition expression, if any.
        pub condition: Option<&'a str>,
        /// Times the breakpoint was hit.
        pub hit_count: u32,
    }
}

payload! {
    @field
    /// `references` of a debug session.
    pub struct DebugReferences<'a> {
        /// Related commits.
        pub commit_ids: StrList<'a>,
        /// Related symbols.
        pub symbol_names: StrList<'a>,
    }
}

payload! {
    /// `debug_session` (0x4000). Actor: the person or agent debugging (optional).
    pub struct DebugSession<'a>: DebugSession {
        /// Debugger ("lldb", "gdb", "python-debugger").
        pub tool: &'a str = required,
        /// Unique session identifier (JSON: at the event's top level).
        #[cfg_attr(feature = "serde", serde(skip_serializing))]
        pub session_id: u64,
        /// Breakpoints set during the session.
        pub breakpoints: List<'a, Breakpoint<'a>>,
        /// Sampled stack trace, if any.
        pub stack_summary: Option<&'a str>,
        /// Related items.
        pub references: DebugReferences<'a>,
    }
}

payload! {
    @field
    /// One frame of a captured stack (addition, for `debug_snapshot`).
    pub struct StackFrame<'a> {
        /// Function or symbol name.
        pub function: &'a str = required,
        /// Source file, empty when unknown.
        pub file_path: &'a str,
        /// Line number, 0 when unknown.
        pub line: u32,
    }
}

payload! {
    /// `debug_snapshot` (0x4001). The spec names it only; these are the fields a debugger user
    /// expects of a snapshot (all additions, documented in `docs/FORMAT.md`).
    pub struct DebugSnapshot<'a>: DebugSnapshot {
        /// The debug session the snapshot belongs to (JSON: at the event's top level).
        #[cfg_attr(feature = "serde", serde(skip_serializing))]
        pub session_id: u64,
        /// Snapshot identifier, unique within the session.
        pub snapshot_id: u64,
        /// What triggered it ("breakpoint", "signal", "watchpoint", "manual").
        pub reason: &'a str = "manual",
        /// Thread the snapshot was taken on.
        pub thread_id: u64,
        /// The stack, innermost frame first.
        pub frames: List<'a, StackFrame<'a>>,
        /// Local variables, name to rendered value.
        pub variables: StrMap<'a>,
    }
}

// ---------------------------------------------------------------- VCS

payload! {
    /// `vcs_commit` (0x5000). Actor: `author_id`.
    pub struct VcsCommit<'a>: VcsCommit {
        /// Commit SHA.
        pub commit_hash: &'a str = required,
        /// Commit message.
        pub commit_message: &'a str,
        /// Changed files.
        pub changed_files: StrList<'a>,
        /// Parent commit SHAs.
        pub parent_commits: StrList<'a>,
        /// Branch name.
        pub branch: &'a str,
        /// Commit timestamp, Unix nanoseconds.
        pub timestamp: i64,
    }
}

enum_field! {
    /// What happened to a branch (addition, for `vcs_branch`).
    pub enum BranchAction {
        /// The branch was created.
        Created = 0 => "created",
        /// The branch moved to a new head.
        Updated = 1 => "updated",
        /// The branch was deleted.
        Deleted = 2 => "deleted",
    }
}

payload! {
    /// `vcs_branch` (0x5001). The spec names it only; these are the fields a VCS user expects
    /// (all additions, documented in `docs/FORMAT.md`). Actor: who moved the branch.
    pub struct VcsBranch<'a>: VcsBranch {
        /// Branch name.
        pub branch: &'a str = required,
        /// What happened.
        pub action: BranchAction = (BranchAction::Updated),
        /// Commit the branch points to after the change (empty when deleted).
        pub head_commit: &'a str,
        /// Branch it was forked from or tracks, if any.
        pub base_branch: Option<&'a str>,
        /// Commits ahead of the base.
        pub ahead: u32,
        /// Commits behind the base.
        pub behind: u32,
    }
}

// ---------------------------------------------------------------- any event

/// Generates [`EventType`], [`Event`] and every per-type list from the one table below.
macro_rules! events {
    ($(
        $(#[$doc:meta])*
        $ty:ident $(<$lt:lifetime>)? = $code:literal, $name:literal, actor: $actor:expr;
    )*) => {
        /// Every event type the spec defines, with its code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum EventType {
            $( $(#[$doc])* $ty = $code, )*
        }

        /// Positions in [`EventType::ALL`], counted by the compiler.
        #[allow(dead_code)]
        enum Position { $($ty),* }

        impl EventType {
            /// How many event types there are.
            pub const COUNT: usize = [$(Position::$ty),*].len();

            /// All event types, in code order.
            pub const ALL: [EventType; EventType::COUNT] = [$(Self::$ty),*];

            /// Position in [`EventType::ALL`].
            #[inline]
            pub const fn index(self) -> usize {
                match self { $(Self::$ty => Position::$ty as usize),* }
            }

            /// The spec's snake_case name, as used in JSON (`"perf_sample"`).
            pub const fn name(self) -> &'static str {
                match self { $(Self::$ty => $name),* }
            }

            /// The type with exactly this spec code.
            pub(crate) const fn from_exact_code(code: u16) -> Option<Self> {
                match code {
                    $($code => Some(Self::$ty),)*
                    _ => None,
                }
            }

            /// The name the spec's field list gives the actor inside this type's payload
            /// (`agent_id`, `author`, `generator_id`, `author_id`), if it names one.
            pub const fn payload_actor_name(self) -> Option<&'static str> {
                match self { $(Self::$ty => $actor),* }
            }

            /// The payload's fields, in encoding order, with their spec names and kinds.
            pub const fn fields(self) -> &'static [FieldInfo] {
                match self { $(Self::$ty => <$ty as Payload>::FIELDS),* }
            }

            /// Whether the payload has its own `session_id` field (the spec's JSON shows it at
            /// the top level). Perf samples name sessions in `correlation_hints.session_ids`
            /// instead (see [`EventType::has_sessions`]).
            pub const fn has_session_id(self) -> bool {
                match self { $(Self::$ty => <$ty as Payload>::HAS_SESSION_ID),* }
            }

            /// Whether events of this type name sessions at all: a `session_id` field or a
            /// `session_ids` list (what [`Event::for_each_session`] reports).
            pub const fn has_sessions(self) -> bool {
                match self { $(Self::$ty => <$ty as Payload>::HAS_SESSIONS),* }
            }

            /// Calls `f` with every session id of an encoded payload of this type, decoding
            /// only the fields that can hold them ([`Payload::for_each_session_in`]: the same
            /// sessions as decoding the payload and calling [`Event::for_each_session`],
            /// for every payload that decodes). Linear in `payload`; never panics.
            pub fn for_each_session_in(
                self,
                payload: &[u8],
                mut f: impl FnMut(u64),
            ) -> Result<(), DecodeError> {
                match self { $(Self::$ty => <$ty as Payload>::for_each_session_in(payload, &mut f)),* }
            }
        }

        /// Any event's payload, decoded.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum Event<'a> {
            $(
                #[doc = concat!("A `", $name, "` payload.")]
                $ty($ty $(<$lt>)?),
            )*
        }

        impl<'a> Event<'a> {
            /// Decodes the payload of a record of type `event_type`.
            pub fn decode(event_type: EventType, bytes: &'a [u8]) -> Result<Self, DecodeError> {
                Ok(match event_type {
                    $(EventType::$ty => Self::$ty(<$ty as Payload<'a>>::decode(bytes)?),)*
                })
            }

            /// The event type.
            pub fn event_type(&self) -> EventType {
                match self { $(Self::$ty(_) => EventType::$ty,)* }
            }

            /// Exact encoded size of the payload.
            pub fn encoded_len(&self) -> usize {
                match self { $(Self::$ty(p) => Payload::encoded_len(p),)* }
            }

            /// Encodes the payload at the start of `out`.
            pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                match self { $(Self::$ty(p) => p.encode_into(out),)* }
            }

            /// Walks every payload field, in encoding order, under its spec name.
            pub fn visit<V: Visit<'a> + ?Sized>(&self, v: &mut V) {
                match self { $(Self::$ty(p) => p.visit_fields(v),)* }
            }

            /// Calls `f` with the typed payload (for code generic over [`Payload`]).
            pub fn with_payload<F: WithPayload>(&self, f: F) -> F::Output {
                match self { $(Self::$ty(p) => f.call(p),)* }
            }

            /// The event's own `session_id` field, for the types that have one (JSON puts it
            /// at the top level, as the spec's examples do).
            pub fn session_id(&self) -> Option<u64> {
                match self { $(Self::$ty(p) => p.session_id(),)* }
            }
        }

        $(
            impl<'a> From<$ty $(<$lt>)?> for Event<'a> {
                fn from(p: $ty $(<$lt>)?) -> Self { Self::$ty(p) }
            }
        )*

        /// The payload as the spec's JSON object (see [`crate::json`]).
        #[cfg(feature = "serde")]
        impl serde::Serialize for Event<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $(Self::$ty(p) => serde::Serialize::serialize(p, s),)* }
            }
        }

        #[cfg(feature = "serde")]
        impl EventType {
            /// Reads a payload of this type from the spec's JSON object `input` (see
            /// [`crate::json`]) and calls `f` with the event while what it borrows is alive.
            pub fn read_json<I: crate::json::JsonInput + ?Sized, R>(
                self,
                input: &I,
                cx: &crate::json::Context,
                f: impl FnOnce(Event<'_>) -> R,
            ) -> Result<R, I::Error> {
                match self {
                    $(Self::$ty => {
                        let read = input.read::<<$ty as crate::json::JsonField<'_>>::In>()?;
                        Ok(f(Event::$ty(crate::json::JsonField::from_json(&read, cx))))
                    })*
                }
            }
        }
    };
}

// The one definition of the event types: variant and payload struct, spec code, spec name, and
// the actor's name inside the spec's payload field list. Everything else (fields, sessions) is
// read from the payload definitions above.
events! {
    /// An agent starts a session.
    AgentSessionStarted<'a> = 0x1000, "agent_session_started", actor: Some("agent_id");
    /// An agent session ends.
    AgentSessionEnded = 0x1001, "agent_session_ended", actor: Some("agent_id");
    /// An agent performs an operation (read, write, commit, query...).
    AgentOperation<'a> = 0x1002, "agent_operation", actor: Some("agent_id");
    /// A review note linked to a code artifact.
    ReviewNote<'a> = 0x2000, "review_note", actor: Some("author");
    /// A generated summary of code changes.
    ReviewSummary<'a> = 0x2001, "review_summary", actor: Some("generator_id");
    /// A performance metric sample.
    PerfSample<'a> = 0x3000, "perf_sample", actor: None;
    /// A detected performance regression.
    PerfRegression<'a> = 0x3001, "perf_regression", actor: None;
    /// A debugging session.
    DebugSession<'a> = 0x4000, "debug_session", actor: None;
    /// A snapshot of debug state at a point in time.
    DebugSnapshot<'a> = 0x4001, "debug_snapshot", actor: None;
    /// A VCS commit.
    VcsCommit<'a> = 0x5000, "vcs_commit", actor: Some("author_id");
    /// A VCS branch and where it points.
    VcsBranch<'a> = 0x5001, "vcs_branch", actor: None;
}

/// A function generic over the payload type, for [`Event::with_payload`].
pub trait WithPayload {
    /// What the function returns.
    type Output;
    /// Calls the function with one typed payload.
    fn call<'p, P: Payload<'p>>(self, payload: &P) -> Self::Output;
}

impl Event<'_> {
    /// Calls `f` with every session id the event belongs to: `session_id` fields and the items
    /// of `session_ids` lists (a perf sample's `correlation_hints.session_ids`).
    pub fn for_each_session(&self, f: impl FnMut(u64)) {
        if self.event_type().has_sessions() {
            self.visit(&mut Sessions::new(f));
        }
    }
}
