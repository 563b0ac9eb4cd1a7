//! The Watch RPCs: one per `watch` line of the overlay — its proto messages and RPC, its
//! `Watched` implementation (`src/generated/watches.rs`) and its request's validation.

use std::fmt::Write as _;

use crate::Context;
use crate::model::{Ty, WatchOverlay};
use crate::names::{comment, rust_field, snake, words};

impl WatchOverlay {
    /// `WatchCacheCluster`.
    pub(crate) fn rpc(&self) -> String {
        format!("Watch{}", self.kind)
    }

    /// `cache cluster`: the kind in words, for comments.
    fn words(&self) -> String {
        words(&self.kind)
            .iter()
            .map(|w| {
                if w.chars().skip(1).any(|c| c.is_ascii_uppercase()) {
                    w.clone()
                } else {
                    w.to_ascii_lowercase()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The settled statuses as a comment lists them: `"available", "failed"`.
    fn settled_list(&self) -> String {
        self.settled
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The `kind` metric label.
    fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| snake(&self.kind))
    }
}

impl Context {
    /// Checks each watch line against the model: the Describe is served, its members exist, the
    /// listed shape is the kind, and the fault is one the Describe answers.
    pub(crate) fn check_watches(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for w in &self.overlay.watch {
            let at = |what: String| format!("overlay: watch {}: {what}", w.kind);
            if !seen.insert(w.kind.clone()) {
                return Err(at("listed twice".into()));
            }
            let (_, op) = self
                .ops
                .iter()
                .find(|(o, _)| o.name == w.describe)
                .ok_or_else(|| at(format!("{} is not a served operation", w.describe)))?;
            let input = op.input.as_ref().ok_or_else(|| at("no input".into()))?;
            let filter = self
                .model
                .shape(&input.shape)
                .members
                .get(&w.filter)
                .ok_or_else(|| at(format!("{} has no input member {}", w.describe, w.filter)))?;
            if self.model.ty(&filter.shape) != Ty::Str {
                return Err(at(format!("{} is not a string", w.filter)));
            }
            let output = op.output.as_ref().ok_or_else(|| at("no output".into()))?;
            let list = self
                .model
                .shape(&output.shape)
                .members
                .get(&w.list)
                .ok_or_else(|| at(format!("{} has no output member {}", w.describe, w.list)))?;
            if self.model.ty(&list.shape) != Ty::List(Box::new(Ty::Struct(w.kind.clone()))) {
                return Err(at(format!("{} is not a list of {}", w.list, w.kind)));
            }
            let kind = self.model.shape(&w.kind);
            for member in [&w.name, &w.status] {
                let m = kind
                    .members
                    .get(member)
                    .ok_or_else(|| at(format!("{} has no member {member}", w.kind)))?;
                if self.model.ty(&m.shape) != Ty::Str {
                    return Err(at(format!("{member} is not a string")));
                }
            }
            if !op.errors.iter().any(|e| e.shape == w.not_found) {
                return Err(at(format!(
                    "{} does not answer {}",
                    w.describe, w.not_found
                )));
            }
            if w.settled.is_empty() {
                return Err(at("no settled status".into()));
            }
        }
        Ok(())
    }

    /// The Watch RPCs of the service block.
    pub(crate) fn watch_rpcs_proto(&self, out: &mut String) {
        for w in &self.overlay.watch {
            let doc = format!(
                "Streams a {k}'s state: the current state at once, then every change, a heartbeat \
                 when nothing changed for a while, until the {k} settles ({}) or is deleted. \
                 Watchers of one {k} share one upstream poll; resume_after resumes a stream from \
                 the last message received.",
                w.settled_list(),
                k = w.words()
            );
            out.push_str(&comment(&[doc], 2));
            let _ = writeln!(
                out,
                "  rpc {0}({0}Request) returns (stream {0}Response);",
                w.rpc()
            );
        }
    }

    /// The Watch RPCs' messages.
    pub(crate) fn watch_messages_proto(&self) -> String {
        let mut out = String::new();
        for w in &self.overlay.watch {
            let (rpc, k, settled) = (w.rpc(), w.words(), w.settled_list());
            let _ = writeln!(
                out,
                "\n// Input of {rpc}.\nmessage {rpc}Request {{\n  // Required. The {k} to watch.\n  string {} = 1;\n{}  bool keep_watching_when_settled = 2;\n{}  string resume_after = 3;\n}}",
                snake(&w.name),
                comment(
                    &[format!(
                        "Keep watching after the {k} settles ({settled}): the stream then ends \
                         only when the {k} is deleted, at the deadline, or when the caller cancels."
                    )],
                    2
                ),
                comment(
                    &[format!(
                        "The version of the last message received, to resume a stream (on any \
                         replica): nothing is sent until the {k} differs from that state, and a \
                         {k} settled in that state ends the stream at once with OK. Empty: start \
                         with the current state."
                    )],
                    2
                ),
            );
            let _ = writeln!(
                out,
                "\n// One message of {rpc}.\nmessage {rpc}Response {{\n  // Why this message was sent.\n  WatchEvent event = 1;\n{}  {} {} = 2;\n  // When the service last read this state from ElastiCache.\n  google.protobuf.Timestamp observed_at = 3;\n{}  bool settled = 4;\n{}  string version = 5;\n}}",
                comment(
                    &[format!(
                        "The {k}, as {} returns it; for WATCH_EVENT_DELETED the last state \
                         observed before it disappeared.",
                        w.describe
                    )],
                    2
                ),
                w.kind,
                snake(&w.kind),
                comment(
                    &[format!(
                        "Whether the status is settled ({settled}); with \
                         keep_watching_when_settled unset, this is the last message before the \
                         stream ends with OK."
                    )],
                    2
                ),
                comment(
                    &[
                        "This state's version: the same for the same state on every replica. \
                       Pass it as resume_after to resume the stream after this message."
                            .to_owned()
                    ],
                    2
                ),
            );
        }
        out
    }

    /// `src/generated/watches.rs`: the `Watched` kinds and their hubs.
    pub(crate) fn watches_rs(&self) -> String {
        let mut out = crate::rust::HEADER.to_owned();
        out.push_str("watched! {\n");
        for w in &self.overlay.watch {
            let settled = w
                .settled
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(" | ");
            let _ = writeln!(
                out,
                "    /// {}s: settled when {}; names compared {}.\n    {kind}Watch: rpc {rpc:?}, kind {label:?}, hub {hub},\n        resource {kind}, not_found {not_found},\n        describe {describe}Request({filter}) => {describe}Response.{list},\n        state {kind}.{name}.{status}, request {rpc}Request.{name},\n        message {rpc}Response.{hub},\n        settled [{settled}], key {key};",
                capitalized(&w.words()),
                w.settled.join(" or "),
                if w.lower_case {
                    "in lower case"
                } else {
                    "exactly"
                },
                kind = w.kind,
                rpc = w.rpc(),
                label = w.label(),
                hub = snake(&w.kind),
                not_found = w.not_found,
                describe = w.describe,
                filter = rust_field(&w.filter),
                list = rust_field(&w.list),
                name = rust_field(&w.name),
                status = rust_field(&w.status),
                key = if w.lower_case {
                    "str::to_ascii_lowercase"
                } else {
                    "str::to_owned"
                },
            );
        }
        out.push_str("}\n");
        out
    }

    /// The Watch requests' validation (appended to `src/generated/validate.rs`).
    pub(crate) fn watch_validate_rs(&self) -> String {
        let mut out = String::new();
        for w in &self.overlay.watch {
            let field = rust_field(&w.name);
            let check = match self.overlay.validators.get(&w.filter) {
                Some(validator) => format!(
                    "if v.required({f:?}, &self.{field}) {{ v.{validator}({f:?}, &self.{field}); }}",
                    f = snake(&w.name)
                ),
                None => format!("v.required({:?}, &self.{field});", snake(&w.name)),
            };
            let _ = writeln!(
                out,
                "\nimpl Validate for pb::{}Request {{\n    fn validate(&self) -> Result<(), Violations> {{\n        let mut v = Violations::default();\n        {check}\n        v.resume_after(\"resume_after\", &self.resume_after);\n        v.into_result()\n    }}\n}}",
                w.rpc()
            );
        }
        out
    }

    /// The `watch` block of `with_served_rpcs!` (`src/generated/rpcs.rs`).
    pub(crate) fn watch_rpcs_rs(&self) -> String {
        let mut out = String::from("            watch {\n");
        for w in &self.overlay.watch {
            let _ = writeln!(
                out,
                "                {}(crate::watch::{}Watch) -> {}Stream;",
                snake(&w.rpc()),
                w.kind,
                w.rpc()
            );
        }
        out.push_str("            }\n");
        out
    }

    /// The Watch RPCs for the method table (`src/generated/methods.rs`).
    pub(crate) fn watch_methods_rs(&self) -> String {
        let mut out = format!(
            "\n/// The Watch RPCs, one per watched kind.\nconst WATCHES: [Method; {}] = [\n",
            self.overlay.watch.len()
        );
        for w in &self.overlay.watch {
            let _ = writeln!(
                out,
                "    Method {{ call_type: CallType::ServerStream, ..rpc({:?}, false) }},",
                w.rpc()
            );
        }
        out.push_str("];\n");
        out
    }
}

/// `text` with its first letter in capitals.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
