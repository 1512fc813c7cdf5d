//! The instrumentation macros. With the `off` feature every macro expands to nothing that runs:
//! its arguments are type-checked inside `if false`, so no code or data is emitted for them.
//!
//! - [`event!`](crate::event): any event type, through the global recorder or a given sink.
//! - [`perf_sample!`](crate::perf_sample): a `perf_sample` with inline dimensions, optionally
//!   rate-limited per call site.
//! - [`operation!`](crate::operation): a scope guard that records an `agent_operation` with its
//!   `duration_ns` when dropped.
//!
//! The macros evaluate to `()`: a hot path cannot act on a dropped event, and every drop and
//! refusal is counted. Call [`Recorder::record`](crate::recorder::Recorder::record) directly
//! for the `Result`.

/// Records any event payload.
///
/// ```
/// use northstar_core::{event, events::AgentSessionEnded};
/// event!(AgentSessionEnded { session_id: 7 });
/// event!(AgentSessionEnded { session_id: 7 }, actor = 42, visibility = Team);
/// ```
/// With `to = sink;` first, the event goes to `sink.record(actor, visibility, &payload)`
/// instead of the global recorder (firmware sinks, private recorders).
#[cfg(not(feature = "off"))]
#[macro_export]
macro_rules! event {
    (to = $sink:expr; $payload:expr $(,)?) => {
        $crate::event!(to = $sink; $payload, actor = 0, visibility = Public)
    };
    (to = $sink:expr; $payload:expr, actor = $actor:expr $(,)?) => {
        $crate::event!(to = $sink; $payload, actor = $actor, visibility = Public)
    };
    (to = $sink:expr; $payload:expr, visibility = $vis:ident $(,)?) => {
        $crate::event!(to = $sink; $payload, actor = 0, visibility = $vis)
    };
    (to = $sink:expr; $payload:expr, actor = $actor:expr, visibility = $vis:ident $(,)?) => {{
        let _ = $sink.record($actor, $crate::Visibility::$vis, &$payload);
    }};
    // A user-defined event: a name (string literal), then `field = value` pairs.
    (to = $sink:expr; $name:literal $(, $($fields:tt)*)?) => {
        $crate::__user_event!(@munch ($sink) $name; [] []; $($($fields)*)?)
    };
    ($name:literal $(, $($fields:tt)*)?) => {
        $crate::__user_event!(@munch ($crate::__global_recorder!()) $name; [] []; $($($fields)*)?)
    };
    ($payload:expr $(, $($rest:tt)*)?) => {
        $crate::event!(to = $crate::recorder::Recorder::global(); $payload $(, $($rest)*)?)
    };
}

/// Parses a user event's fields: `key = static "literal"` is an interned constant, any other
/// `key = expr` a runtime value.
#[doc(hidden)]
#[macro_export]
macro_rules! __user_event {
    (@munch $to:tt $name:literal; [$($r:tt)*] [$($c:tt)*]; $k:ident = static $v:literal $(, $($rest:tt)*)?) => {
        $crate::__user_event!(@munch $to $name; [$($r)*] [$($c)* $k = $v,]; $($($rest)*)?)
    };
    (@munch $to:tt $name:literal; [$($r:tt)*] [$($c:tt)*]; $k:ident = $v:expr $(, $($rest:tt)*)?) => {
        $crate::__user_event!(@munch $to $name; [$($r)* $k = $v,] [$($c)*]; $($($rest)*)?)
    };
    (@munch ($($to:tt)*) $name:literal; [$($rk:ident = $rv:expr,)*] [$($ck:ident = $cv:literal,)*]; ) => {
        $crate::__user_event_emit!(($($to)*) $name; [$($rk = $rv,)*] [$($ck = $cv,)*])
    };
}

#[cfg(not(feature = "off"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __user_event_emit {
    (($($to:tt)*) $name:literal; [$($rk:ident = $rv:expr,)*] [$($ck:ident = $cv:literal,)*]) => {{
        const _: () = assert!(
            $crate::user::is_namespaced($name),
            "a user-defined event's name holds a '.' or ':' (e.g. \"kv.wal_sync\")"
        );
        let __northstar_site = $crate::__user_event_site!($name; [$($rk),*] [$($ck = $cv),*]);
        let _ = ($($to)*).record_user(
            __northstar_site,
            0,
            $crate::Visibility::Public,
            &($(&$rv,)*),
        );
    }};
}

#[cfg(feature = "off")]
#[doc(hidden)]
#[macro_export]
macro_rules! __user_event_emit {
    (($($to:tt)*) $name:literal; [$($rk:ident = $rv:expr,)*] [$($ck:ident = $cv:literal,)*]) => {{
        if false {
            let _ = ($(&$rv,)*);
            let _: &[&str] = &[$name $(, $cv)*];
        }
    }};
}

#[cfg(not(feature = "off"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __user_event_site {
    ($name:literal; [$($rk:ident),*] [$($ck:ident = $cv:literal),*]) => {{
        static __NORTHSTAR_META: $crate::user::Meta = $crate::user::Meta {
            name: $name,
            fields: &[$(stringify!($rk)),*],
            consts: &[$((stringify!($ck), $cv)),*],
        };
        $crate::__static!(__NORTHSTAR_SITE: $crate::user::Callsite =
            $crate::user::Callsite::new(&__NORTHSTAR_META));
        &__NORTHSTAR_SITE
    }};
}

/// A call site's `static` holding atomics: a plain `static` normally; under `--cfg loom`, whose
/// atomics are not `const`, a loom lazy static, built afresh in every explored execution (its
/// `&` derefs to the value where a reference to it is passed).
#[cfg(not(loom))]
#[doc(hidden)]
#[macro_export]
macro_rules! __static {
    ($name:ident: $t:ty = $init:expr) => {
        static $name: $t = $init;
    };
}

/// A call site's `static` holding atomics (loom: built lazily per execution).
#[cfg(loom)]
#[doc(hidden)]
#[macro_export]
macro_rules! __static {
    ($name:ident: $t:ty = $init:expr) => {
        $crate::__private::loom::lazy_static! {
            static ref $name: $t = $init;
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __global_recorder {
    () => {
        $crate::recorder::Recorder::global()
    };
}

/// Records any event payload (instrumentation is off: nothing runs).
#[cfg(feature = "off")]
#[macro_export]
macro_rules! event {
    (to = $sink:expr; $name:literal $(, $($fields:tt)*)?) => {{
        if false {
            let _ = &$sink;
        }
        $crate::__user_event!(@munch () $name; [] []; $($($fields)*)?)
    }};
    ($name:literal $(, $($fields:tt)*)?) => {
        $crate::__user_event!(@munch () $name; [] []; $($($fields)*)?)
    };
    (to = $sink:expr; $payload:expr $(, $key:ident = $val:expr)* $(,)?) => {{
        if false {
            let _ = (&$sink, &$payload);
        }
    }};
    ($payload:expr $(, $key:ident = $val:expr)* $(,)?) => {{
        if false {
            let _ = &$payload;
        }
    }};
}

/// Records a `perf_sample`: `perf_sample!(name, value, unit, "dim" => "val", ...)`.
///
/// ```
/// use northstar_core::perf_sample;
/// let nanos = 812;
/// perf_sample!("get_latency_ns", nanos, "ns", "benchmark" => "btree_point_get", "mode" => "read");
/// // At most 1000 samples per second from this call site (the spec's default rate):
/// perf_sample!(rate = 1000; "queue_depth", 3, "items");
/// ```
/// The sample's `timestamp_window` is `{start: 0, end: 0}`, meaning "an instant sample at the
/// record's timestamp"; it has no actor and no correlation hints.
/// The sample's literal strings (metric name, unit, dimension keys and values) are interned:
/// the record in the ring carries the call site's id, the value and only the run-time strings
/// (`interned.rs` in the core); the stored event is the same `perf_sample` either way.
#[cfg(not(feature = "off"))]
#[macro_export]
macro_rules! perf_sample {
    (rate = $rate:expr; $($rest:tt)*) => {
        $crate::__perf_sample!(@name (rate $rate) $($rest)*)
    };
    ($($rest:tt)*) => {
        $crate::__perf_sample!(@name (plain) $($rest)*)
    };
}

/// Sorts `perf_sample!`'s strings into literals (interned) and run-time values (copied).
#[cfg(not(feature = "off"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __perf_sample {
    (@name $b:tt $n:literal, $($rest:tt)*) => {
        $crate::__perf_sample!(@value $b [(::core::option::Option::Some($n)) ($n)] $($rest)*)
    };
    (@name $b:tt $n:expr, $($rest:tt)*) => {
        $crate::__perf_sample!(@value $b [(::core::option::Option::None) ($n)] $($rest)*)
    };
    (@value $b:tt $nm:tt $v:expr, $($rest:tt)*) => {
        $crate::__perf_sample!(@unit $b $nm ($v) $($rest)*)
    };
    (@unit $b:tt $nm:tt $v:tt $u:literal $(, $($rest:tt)*)?) => {
        $crate::__perf_sample!(@dims $b $nm $v [(::core::option::Option::Some($u)) ($u)] []; $($($rest)*)?)
    };
    (@unit $b:tt $nm:tt $v:tt $u:expr $(, $($rest:tt)*)?) => {
        $crate::__perf_sample!(@dims $b $nm $v [(::core::option::Option::None) ($u)] []; $($($rest)*)?)
    };
    (@dims $b:tt [($ns:expr) ($n:expr)] ($v:expr) [($us:expr) ($u:expr)]
        [$( ((($ks:expr) ($k:expr)) (($xs:expr) ($x:expr))) )*]; ) => {{
        static __NORTHSTAR_PERF: $crate::__private::interned::PerfMeta = $crate::__private::interned::PerfMeta {
            name: $ns,
            unit: $us,
            dims: &[$(($ks, $xs)),*],
        };
        $crate::__static!(__NORTHSTAR_SITE: $crate::__private::interned::Site =
            $crate::__private::interned::Site::perf(&__NORTHSTAR_PERF));
        $crate::__perf_sample!(@call $b &__NORTHSTAR_SITE, &__NORTHSTAR_PERF,
            &$crate::__private::interned::PerfArgs { name: $n, unit: $u, dims: [$(($k, $x)),*] },
            $v as f64)
    }};
    (@dims $b:tt $nm:tt $v:tt $u:tt [$($d:tt)*]; $k:literal => $($rest:tt)*) => {
        $crate::__perf_sample!(@dimv $b $nm $v $u [$($d)*] ((::core::option::Option::Some($k)) ($k)); $($rest)*)
    };
    (@dims $b:tt $nm:tt $v:tt $u:tt [$($d:tt)*]; $k:expr => $($rest:tt)*) => {
        $crate::__perf_sample!(@dimv $b $nm $v $u [$($d)*] ((::core::option::Option::None) ($k)); $($rest)*)
    };
    (@dimv $b:tt $nm:tt $v:tt $u:tt [$($d:tt)*] $k:tt; $x:literal $(, $($rest:tt)*)?) => {
        $crate::__perf_sample!(@dims $b $nm $v $u [$($d)* ($k ((::core::option::Option::Some($x)) ($x)))]; $($($rest)*)?)
    };
    (@dimv $b:tt $nm:tt $v:tt $u:tt [$($d:tt)*] $k:tt; $x:expr $(, $($rest:tt)*)?) => {
        $crate::__perf_sample!(@dims $b $nm $v $u [$($d)* ($k ((::core::option::Option::None) ($x)))]; $($($rest)*)?)
    };
    (@call (plain) $($args:tt)*) => {{
        let _ = $crate::recorder::Recorder::global().record_perf($($args)*);
    }};
    (@call (rate $rate:expr) $($args:tt)*) => {{
        $crate::__static!(__NORTHSTAR_BUCKET: $crate::limits::TokenBucket =
            $crate::limits::TokenBucket::new($rate, $rate));
        let _ = $crate::recorder::Recorder::global()
            .record_perf_limited(&__NORTHSTAR_BUCKET, $($args)*);
    }};
}

/// Records a `perf_sample` (instrumentation is off: nothing runs).
#[cfg(feature = "off")]
#[macro_export]
macro_rules! perf_sample {
    (rate = $rate:expr; $name:expr, $value:expr, $unit:expr $(, $k:expr => $v:expr)* $(,)?) => {{
        if false {
            let _ = (&$rate, &$name, &$value, &$unit $(, &$k, &$v)*);
        }
    }};
    ($name:expr, $value:expr, $unit:expr $(, $k:expr => $v:expr)* $(,)?) => {{
        if false {
            let _ = (&$name, &$value, &$unit $(, &$k, &$v)*);
        }
    }};
}

/// Starts an operation; the returned guard records an `agent_operation` with `duration_ns`
/// and status `"completed"` (or `"failed"` after `.fail()`) when it is dropped.
///
/// ```
/// use northstar_core::operation;
/// let key = "user:42";
/// {
///     let _op = operation!("get", "btree", key, agent = 1, session = 100);
///     // ... the operation ...
/// } // recorded here
/// ```
///
/// Literal operation types, target types and target ids are interned: the record in the ring
/// carries the call site's id instead (`interned.rs` in the core); the stored event is the same.
#[cfg(not(feature = "off"))]
#[macro_export]
macro_rules! operation {
    ($($rest:tt)*) => {
        $crate::__operation!(@op $($rest)*)
    };
}

/// Sorts `operation!`'s strings into literals (interned) and run-time values (copied).
#[cfg(not(feature = "off"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __operation {
    (@op $o:literal, $($rest:tt)*) => {
        $crate::__operation!(@tt [(::core::option::Option::Some($o)) ($o)] $($rest)*)
    };
    (@op $o:expr, $($rest:tt)*) => {
        $crate::__operation!(@tt [(::core::option::Option::None) ($o)] $($rest)*)
    };
    (@tt $o:tt $t:literal, $($rest:tt)*) => {
        $crate::__operation!(@tid $o [(::core::option::Option::Some($t)) ($t)] $($rest)*)
    };
    (@tt $o:tt $t:expr, $($rest:tt)*) => {
        $crate::__operation!(@tid $o [(::core::option::Option::None) ($t)] $($rest)*)
    };
    (@tid $o:tt $t:tt $i:literal $(, $($rest:tt)*)?) => {
        $crate::__operation!(@opts $o $t [(::core::option::Option::Some($i)) ($i)]; $($($rest)*)?)
    };
    (@tid $o:tt $t:tt $i:expr $(, $($rest:tt)*)?) => {
        $crate::__operation!(@opts $o $t [(::core::option::Option::None) ($i)]; $($($rest)*)?)
    };
    (@opts $o:tt $t:tt $i:tt; ) => {
        $crate::__operation!(@emit $o $t $i 0, 0)
    };
    (@opts $o:tt $t:tt $i:tt; agent = $agent:expr, session = $session:expr $(,)?) => {
        $crate::__operation!(@emit $o $t $i $agent, $session)
    };
    (@emit [($os:expr) ($op:expr)] [($ts:expr) ($tt:expr)] [($is:expr) ($id:expr)] $agent:expr, $session:expr) => {
        $crate::scope::OperationGuard::start_interned(
            $crate::recorder::Recorder::global(),
            {
                static __NORTHSTAR_OP: $crate::__private::interned::OpMeta = $crate::__private::interned::OpMeta {
                    operation_type: $os,
                    target_type: $ts,
                    target_id: $is,
                };
                $crate::__static!(__NORTHSTAR_SITE: $crate::__private::interned::Site =
                    $crate::__private::interned::Site::op(&__NORTHSTAR_OP));
                let site: &'static $crate::__private::interned::Site = &__NORTHSTAR_SITE;
                // The site's strings go along as a constant, so the guard's encoding folds every
                // literal away (the site's own copy is behind its atomic id).
                (site, &__NORTHSTAR_OP)
            },
            $agent,
            $session,
            $op,
            $tt,
            $id,
        )
    };
}

/// Starts an operation (instrumentation is off: the guard is an empty value).
#[cfg(feature = "off")]
#[macro_export]
macro_rules! operation {
    ($op:expr, $target_type:expr, $target_id:expr $(, $key:ident = $val:expr)* $(,)?) => {{
        if false {
            let _ = (&$op, &$target_type, &$target_id $(, &$val)*);
        }
        $crate::DisabledGuard
    }};
}
