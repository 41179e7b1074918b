//! The RFC oracle: what a server must do with what the client's decisions sent it, and whether
//! it did.
//!
//! A connection's decisions are known exactly (`cid_end`'s `mutated`), so where the RFCs fix
//! the consequence of what a decision sent, the connection is a test case with an expected
//! answer. Each [`Rule`] names the decisions it covers, the section that fixes the reaction
//! (quoted at the rule in [`rules`]), and every reaction the RFC allows. [`judge`] gives a
//! [`Verdict`] to a connection all of whose decisions fall under one rule, and none to a
//! connection whose decisions mix rules or fall under none: a guess would be noise.
//!
//! The oracle is pure: decisions and the outcome in, a verdict out. It judges a client's
//! connections against the server's reaction as the client saw it (`outcome`, `error_code`).

pub mod rules;

#[cfg(test)]
mod tests;

use crate::content::ContentId;
use crate::log::{Ending, MutatedContents, Outcome};
use crate::seed::PacketSpace;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use rules::RULES;

/// What a peer does with a connection: what the client sees of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// The peer closes the connection with this transport error code (RFC 9000 §20.1).
    Closes(u64),
    /// The peer goes on: every request is answered (where the RFC says SHOULD close, going on
    /// is allowed too).
    Completes,
}

impl Reaction {
    /// Whether the connection's end is this reaction. A close is the server's whether it came
    /// during the handshake or after it.
    fn seen_in(self, end: Ending) -> bool {
        match self {
            Reaction::Closes(code) => end.peer_close_code() == Some(code),
            Reaction::Completes => end.outcome == Outcome::Completed,
        }
    }
}

/// A code's name for the verdicts' words: an unknown one says so.
fn transport_error_name(code: u64) -> String {
    crate::transport_error::name(code).unwrap_or_else(|| "an unknown code".to_string())
}

impl fmt::Display for Reaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reaction::Closes(code) => write!(f, "closes with {} ({code:#04x})", transport_error_name(*code)),
            Reaction::Completes => f.write_str("completes"),
        }
    }
}

/// One rule of the oracle: the decisions it covers and the reactions the RFC allows.
#[derive(Debug)]
pub struct Rule {
    /// Stable name, as `cid_end`'s verdict and the summary give it.
    pub name: &'static str,
    /// Where the RFC fixes the reaction, e.g. `RFC 9000 §19.20`.
    pub section: &'static str,
    /// Whether a decision (its content and operator) falls under the rule.
    pub covers: fn(&ContentId, &str) -> bool,
    /// Every reaction the RFC allows; any one of them is as expected.
    pub allowed: &'static [Reaction],
}

impl Rule {
    /// The allowed reactions in words: `closes with PROTOCOL_VIOLATION (0x0a)`, joined by `or`.
    pub fn expected(&self) -> String {
        self.allowed.iter().map(Reaction::to_string).collect::<Vec<_>>().join(" or ")
    }
}

/// The oracle's judgement of one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The rule's name ([`Rule::name`]).
    pub rule: String,
    /// Where the RFC says so ([`Rule::section`]).
    pub section: String,
    /// Whether the peer reacted as the rule allows.
    pub expected: bool,
    /// What the rule allows, in words.
    pub allowed: String,
    /// What the connection's end was, in words: `closes with FRAME_ENCODING_ERROR (0x07)`,
    /// `completed`, `timeout`...
    pub seen: String,
}

/// What the summary and the report group unexpected verdicts by: the rule, its section, what it
/// allows, what was seen.
pub type Deviation = (String, String, String, String);

impl Verdict {
    pub fn deviation(&self) -> Deviation {
        (self.rule.clone(), self.section.clone(), self.allowed.clone(), self.seen.clone())
    }
}

/// The verdict of a connection that mutated `mutated` and ended as `end` says: `None` when it
/// mutated nothing, or its decisions do not all fall under one rule.
pub fn judge(mutated: &MutatedContents, end: Ending) -> Option<Verdict> {
    judge_with(&RULES, mutated, end)
}

fn judge_with(rules: &[Rule], mutated: &MutatedContents, end: Ending) -> Option<Verdict> {
    let mut decisions = mutated.iter().flat_map(|(id, ops)| ops.iter().map(move |op| (id, op.as_str()))).peekable();
    let (id, op) = *decisions.peek()?;
    // The rule of the first decision must cover them all, and be the only one that does. What
    // rides with the client's CONNECTION_CLOSE gets no reaction: the connection is over.
    let mut under = rules.iter().filter(|r| (r.covers)(id, op));
    let rule = under.next()?;
    let judged = |id: &ContentId, op: &str| !crate::content::is_close(id.key.frame_type) && (rule.covers)(id, op);
    if under.next().is_some() || !decisions.all(|(id, op)| judged(id, op)) {
        return None;
    }
    let expected = rule.allowed.iter().any(|r| r.seen_in(end));
    Some(Verdict {
        rule: rule.name.to_string(),
        section: rule.section.to_string(),
        expected,
        allowed: rule.expected(),
        seen: seen(end),
    })
}

/// A connection's end in words, as a verdict says it.
fn seen(end: Ending) -> String {
    match (end.peer_close_code(), end.error_code) {
        (Some(code), _) if end.outcome != Outcome::Refused => Reaction::Closes(code).to_string(),
        (_, Some(code)) => format!("{} ({code:#04x})", end.outcome.as_str()),
        (_, None) => end.outcome.as_str().to_string(),
    }
}

/// Whether `id` is a content of the Initial or Handshake packet number space.
fn in_handshake_spaces(id: &ContentId) -> bool {
    matches!(id.space, PacketSpace::Initial | PacketSpace::Handshake)
}
