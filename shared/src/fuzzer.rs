//! One end's fuzzing of one connection: which of its outgoing packets are mutated, and how.
//!
//! Both binaries' packet interceptors hand every outgoing packet to a [`ConnectionFuzzer`] and do
//! nothing else with it, so the rules below hold on both ends:
//! - the unit of fuzzing is a frame's content ([`crate::content`]), not a packet: which frames
//!   share a packet, and which packets exist, is timing;
//! - a frame's fuzz state is its packet number space's, or `closing` for a CONNECTION_CLOSE
//!   ([`FuzzState::of_packet`] of the frame alone);
//! - in the plan's fuzz state, each content key gets an ordinal, its place among the distinct
//!   keys of that state in the order they were first sent (among the STREAM contents only, for
//!   a plan that says [`ConnectionPlan::streams_only`]); the plan fuzzes ordinals
//!   `wait_packets..wait_packets + fuzz_packets`;
//! - a fuzzed frame is mutated alone, as if it were the whole payload (the engine may grow it
//!   into several frames, remove it, or rewrite its bytes), with the generator of its content,
//!   so every retransmission of a content carries the mutation its first transmission carried;
//!   the packet's other frames pass untouched and PADDING is given back where it was there;
//! - the decisions of a content are recorded once, when it is first sent;
//! - a coverage-guided child ([`ConnectionFuzzer::child`], [`crate::coverage::corpus`]) runs
//!   its root ancestor's plan, and mutates each target with every ancestor's generator in turn,
//!   root first, then with its own: its parents' decisions, then its own on top;
//! - a fuzzer [`ConnectionFuzzer::restricted_to`] a set of contents ([`ContentId`]s) mutates
//!   only those: every other target passes untouched, and the kept ones make exactly the
//!   decisions they make without the restriction (their generators are their own, and ordinals
//!   are counted over every content sent, mutated or not). Triage shrinks a crash to the
//!   contents that matter this way (`fuzz-client minimize`, [`crate::minimize`]).
//!
//! Nothing here depends on packet numbers, on how many packets were sent before, or on which
//! frames ride together, as long as the packet has room to spare: a target may grow by at most
//! [`ROOM_TO_GROW`] bytes, so a fuller packet (less room than that) can change what the engine
//! manages to do.

use crate::application::Application;
use crate::cid::Cid;
use crate::content::{self, ContentId, ContentOrder, FrameContent};
use crate::mutate::{self, Decision, Mutator, PacketInfo, MIN_PAYLOAD_LEN};
use crate::plan::{ConnectionPlan, FuzzState, Inputs};
use crate::seed::{ConnectionSeed, PacketSpace, Role};
use std::collections::BTreeSet;
use std::sync::Arc;

/// How many bytes a targeted frame may grow by: enough to duplicate a ClientHello or insert
/// frames, and fixed, so that the room a frame gets does not depend on how full timing made its
/// packet (the engine's choices depend on its room).
pub const ROOM_TO_GROW: usize = 512;

/// One end's fuzzing state for one connection.
#[derive(Clone, Debug)]
pub struct ConnectionFuzzer {
    role: Role,
    /// What the connection speaks, which decides whether STREAM data are mutated as HTTP/3.
    application: Application,
    seed: ConnectionSeed,
    /// A child's ancestors' seeds, root first: their mutations come before its own.
    ancestors: Vec<ConnectionSeed>,
    plan: ConnectionPlan,
    order: ContentOrder,
    decisions: Vec<Decision>,
    /// Where the decisions of a retransmission go: they repeat the first transmission's.
    repeated: Vec<Decision>,
    /// Only these contents are mutated, when set ([`Self::restricted_to`]).
    only: Option<Arc<BTreeSet<ContentId>>>,
}

/// What happened to one outgoing packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub state: FuzzState,
    /// The new payload length when the packet was mutated.
    pub mutated: Option<usize>,
}

impl ConnectionFuzzer {
    /// The fuzzer of `role`'s end of the connection whose initial CID is `cid`, speaking
    /// `application` (a client's plan depends on it, [`ConnectionPlan::from_cid_at`]).
    pub fn new(cid: &Cid, role: Role, application: Application) -> Self {
        Self::child(cid, role, application, &[])
    }

    /// The fuzzer of the connection `cid` that is a child of `lineage` (corpus entries, root
    /// first; empty: [`Self::new`]'s blind fuzzer): the root's plan, and in every target the
    /// ancestors' mutations, then its own.
    pub fn child(cid: &Cid, role: Role, application: Application, lineage: &[Cid]) -> Self {
        Self {
            role,
            application,
            seed: ConnectionSeed::from_cid(cid),
            ancestors: lineage.iter().map(ConnectionSeed::from_cid).collect(),
            // The resumption rate draws nothing the fuzzer uses: the plan's fuzzing comes first.
            plan: ConnectionPlan::of(cid, lineage.to_vec(), role, Inputs::speaking(application)),
            order: ContentOrder::default(),
            decisions: Vec::new(),
            repeated: Vec::new(),
            only: None,
        }
    }

    /// The same fuzzer, mutating only the contents in `only`: the plan's other targets pass
    /// untouched, and those in `only` make the decisions they would make without the
    /// restriction. A content in `only` that the plan does not target stays untouched too.
    pub fn restricted_to(mut self, only: Arc<BTreeSet<ContentId>>) -> Self {
        self.only = Some(only);
        self
    }

    /// What the connection speaks, once it is known: a server learns it from the handshake
    /// (the negotiated ALPN) after its plan is drawn, which does not depend on it. Mutations
    /// made from then on follow it.
    pub fn set_application(&mut self, application: Application) {
        self.application = application;
    }

    /// The contents this fuzzer may mutate, when restricted.
    pub fn restriction(&self) -> Option<&BTreeSet<ContentId>> {
        self.only.as_deref()
    }

    pub fn plan(&self) -> &ConnectionPlan {
        &self.plan
    }

    /// The decisions made so far, each content's once.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// The operator families of the decisions made so far, each once, sorted (`cid_end`'s
    /// `operators`).
    pub fn operator_families(&self) -> Vec<String> {
        let families: std::collections::BTreeSet<&str> = self.decisions.iter().map(Decision::family).collect();
        families.into_iter().map(str::to_string).collect()
    }

    /// The decisions made so far grouped by content, in the order the contents were first
    /// mutated (a content's decisions are made at once, when it is first sent).
    pub fn decisions_by_content(&self) -> Vec<(ContentId, &[Decision])> {
        let mut out: Vec<(ContentId, &[Decision])> = Vec::new();
        let mut start = 0;
        for (i, d) in self.decisions.iter().enumerate() {
            let id = ContentId::new(d.space, d.content);
            let next = self.decisions.get(i + 1).map(|n| ContentId::new(n.space, n.content));
            if next != Some(id) {
                out.push((id, &self.decisions[start..=i]));
                start = i + 1;
            }
        }
        out
    }

    /// The contents mutated so far, in the order they were first mutated.
    pub fn mutated_contents(&self) -> Vec<ContentId> {
        self.decisions_by_content().into_iter().map(|(id, _)| id).collect()
    }

    /// The contents mutated so far with their decisions' operators: `cid_end`'s `mutated`.
    pub fn mutated(&self) -> crate::log::MutatedContents {
        self.decisions_by_content()
            .into_iter()
            .map(|(id, ds)| (id, ds.iter().map(|d| d.operator.clone()).collect()))
            .collect()
    }

    /// The `mutation_digest` of the decisions made so far.
    pub fn digest(&self) -> String {
        mutate::digest(&self.decisions)
    }

    /// Takes one outgoing packet of `space` whose payload is `buf[..len]` (`buf` is its whole
    /// capacity) and mutates the frames the plan says, in place. The packet's state is
    /// [`FuzzState::of_packet`]'s; the new length obeys [`Mutator::mutate`]'s rules (0, or at
    /// least [`mutate::MIN_PAYLOAD_LEN`]). A payload that does not parse is left alone.
    pub fn on_packet(&mut self, mutator: &mut PacketMutator, space: PacketSpace, buf: &mut [u8], len: usize) -> Sent {
        let len = len.min(buf.len());
        let PacketMutator { engine, scratch } = mutator;
        scratch.frames.clear();
        let parsed = content::frames(&buf[..len], |f| scratch.frames.push(f)).is_some();
        let closes = parsed && scratch.frames.iter().any(|f| content::is_close(f.frame_type));
        let state = FuzzState::of_packet(space, closes);
        let mut sent = Sent { state, mutated: None };
        if parsed {
            sent.mutated = self.mutate_frames(engine, scratch, space, buf, len);
        }
        sent
    }

    /// Mutates the frames of `scratch.frames` (the packet's) that the plan targets; `None` when
    /// it targets none.
    fn mutate_frames(
        &mut self,
        mutator: &mut Mutator,
        scratch: &mut PacketScratch,
        space: PacketSpace,
        buf: &mut [u8],
        len: usize,
    ) -> Option<usize> {
        let limit = self.plan.wait_packets + self.plan.fuzz_packets;
        let mut any = false;
        scratch.targets.clear();
        for f in &scratch.frames {
            let target = match f.key {
                Some(key)
                    if FuzzState::of_packet(space, content::is_close(f.frame_type)) == self.plan.fuzz_state
                        && (!self.plan.streams_only || key.frame_type == crate::mutate::frame::ty::STREAM) =>
                {
                    let ordinal = self.order.ordinal(key, limit);
                    // The ordinal is counted whether or not the restriction lets the content be
                    // mutated: the kept contents' ordinals, and so the plan's window, stay put.
                    let allowed = self.only.as_ref().is_none_or(|only| only.contains(&ContentId::new(space, key)));
                    match ordinal.index {
                        Some(i) if allowed && self.plan.fuzzes(self.plan.fuzz_state, i) => Some(ordinal.first),
                        _ => None,
                    }
                }
                _ => None,
            };
            any |= target.is_some();
            scratch.targets.push(target);
        }
        if !any {
            return None;
        }
        // The new payload is built in `out`: untouched frames copied, targets mutated alone in
        // `piece` with the room the rest of the packet leaves them.
        let padded = scratch.frames.iter().any(|f| f.frame_type == 0);
        let kept_after = |i: usize, frames: &[FrameContent]| -> usize {
            frames[i + 1..].iter().filter(|f| f.frame_type != 0).map(|f| f.end - f.at).sum()
        };
        scratch.out.clear();
        for (i, (f, target)) in scratch.frames.iter().zip(&scratch.targets).enumerate() {
            let bytes = &buf[f.at..f.end];
            let (Some(first), Some(key)) = (target, f.key) else {
                if f.frame_type != 0 {
                    scratch.out.extend_from_slice(bytes);
                }
                continue;
            };
            let room = buf.len().saturating_sub(scratch.out.len() + kept_after(i, &scratch.frames));
            let room = room.min(bytes.len() + ROOM_TO_GROW);
            if room < bytes.len() {
                // An earlier target grew into this one's room: send it as it is.
                scratch.out.extend_from_slice(bytes);
                continue;
            }
            scratch.piece.clear();
            scratch.piece.extend_from_slice(bytes);
            scratch.piece.resize(room, 0);
            let info = PacketInfo { role: self.role, space, content: key, application: self.application };
            let decisions = if *first {
                &mut self.decisions
            } else {
                self.repeated.clear();
                &mut self.repeated
            };
            let mut n = bytes.len();
            for seed in self.ancestors.iter().chain(std::iter::once(&self.seed)) {
                let mut rng = seed.content_rng(self.role, space, &key);
                n = mutator.mutate(&mut rng, &info, &mut scratch.piece, n, decisions);
            }
            scratch.out.extend_from_slice(&scratch.piece[..n]);
        }
        let mut new_len = scratch.out.len().min(buf.len());
        buf[..new_len].copy_from_slice(&scratch.out[..new_len]);
        if padded && new_len < len {
            // PADDING frames (RFC 9000 §19.1) give the packet back its length, so that Initial
            // datagrams keep their required size (§14.1).
            buf[new_len..len].fill(0);
            new_len = len;
        }
        if new_len > 0 && new_len < MIN_PAYLOAD_LEN {
            if buf.len() < MIN_PAYLOAD_LEN {
                return Some(0);
            }
            buf[new_len..MIN_PAYLOAD_LEN].fill(0);
            new_len = MIN_PAYLOAD_LEN;
        }
        Some(new_len)
    }
}

/// The mutation engine and the scratch space of [`ConnectionFuzzer::on_packet`]: one per
/// interceptor, shared by its connections, so that fuzzing a packet allocates nothing in steady
/// state.
#[derive(Debug, Default)]
pub struct PacketMutator {
    engine: Mutator,
    scratch: PacketScratch,
}

impl PacketMutator {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The scratch space of [`ConnectionFuzzer::on_packet`], refilled for every packet.
#[derive(Debug, Default)]
struct PacketScratch {
    frames: Vec<FrameContent>,
    /// Per frame: `Some(first transmission of its content)` when it is a target.
    targets: Vec<Option<bool>>,
    out: Vec<u8>,
    piece: Vec<u8>,
}

#[cfg(test)]
mod tests;
