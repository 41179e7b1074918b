//! A connection's plan: everything it does besides the mutations themselves, as a function of
//! its initial CID and the role of the end that follows it.
//!
//! The plan says in which connection state fuzzing starts, how many packets of that state pass
//! untouched first, how many are mutated, whether the client offers a session ticket or tries
//! 0-RTT, and which requests it makes. Packets are counted by what they carry: the k-th packet of
//! a state is the one that first carried the k-th distinct content ([`crate::content`]), so
//! retransmissions and packets that carry only ACKs or PINGs do not count. Mutations of a packet
//! are decided by its content's generator (see [`crate::seed`]); the plan only says which
//! packets are candidates ([`crate::fuzzer`] applies it).

use crate::application::Application;
use crate::cid::Cid;
use crate::seed::{ConnectionSeed, PacketSpace, Role};
use rand::distributions::{Distribution, WeightedIndex};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The connection states at which fuzzing can start, in the order a connection passes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FuzzState {
    /// Initial packets: the client's ClientHello, the server's ServerHello (RFC 9000 §17.2.2).
    Initial,
    /// Handshake packets: the rest of the TLS handshake (RFC 9000 §17.2.4).
    Handshake,
    /// 1-RTT packets of an established connection: streams, flow control, connection IDs.
    Ready,
    /// Packets that carry CONNECTION_CLOSE (RFC 9000 §10.2).
    Closing,
}

impl FuzzState {
    pub const ALL: [FuzzState; 4] = [Self::Initial, Self::Handshake, Self::Ready, Self::Closing];

    /// The state a packet belongs to, from its packet number space and whether it closes the
    /// connection. 0-RTT packets would count as `Ready`, but s2n-quic sends none.
    pub fn of_packet(space: PacketSpace, closes_connection: bool) -> Self {
        match (space, closes_connection) {
            (_, true) => Self::Closing,
            (PacketSpace::Initial, false) => Self::Initial,
            (PacketSpace::Handshake, false) => Self::Handshake,
            (PacketSpace::ApplicationData, false) => Self::Ready,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Handshake => "handshake",
            Self::Ready => "ready",
            Self::Closing => "closing",
        }
    }
}

impl fmt::Display for FuzzState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One hq-interop request (`GET /path\r\n`). Paths `/N` ask the server for a body of N bytes,
/// as picoquic's demo server and our fuzz-server generate them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub path: String,
}

/// Response sizes the plans choose from: empty, tiny, about one packet, several packets, and
/// bodies long enough to need flow-control updates.
const RESPONSE_SIZES: [u32; 8] = [0, 1, 100, 1_000, 1_200, 4_096, 16_384, 65_536];

/// The share of client plans that resume a TLS session: an input of the derivation, like the
/// start CID (`--resume-rate`, logged in `run_start`). Kept in millionths so that it compares
/// exactly and prints as given.
///
/// Each client plan draws one 64-bit number for it, whatever the rate, and resumes when the
/// number falls below `rate * 2^64`: at the default of 1/4 that is exactly the draw the plans
/// made before the rate could be set (`Rng::gen_bool(0.25)`), so their known answers stand. The
/// draws after it (0-RTT, requests) depend on whether the plan resumes; a plan whose resumption
/// a rate flips may then make other requests too. Fuzzing (state, wait, packets) is drawn before
/// and never depends on the rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResumeRate {
    millionths: u32,
}

impl ResumeRate {
    const SCALE: u32 = 1_000_000;
    /// The plans' own rate: a quarter of the connections resume.
    pub const DEFAULT: Self = Self { millionths: 250_000 };

    /// A rate from a share in [0, 1], rounded to millionths; `None` outside that range.
    pub fn new(share: f64) -> Option<Self> {
        (0.0..=1.0).contains(&share).then(|| Self { millionths: (share * Self::SCALE as f64).round() as u32 })
    }

    pub fn share(self) -> f64 {
        self.millionths as f64 / Self::SCALE as f64
    }

    /// Whether the plan's draw `v` resumes: `v < rate * 2^64`, exactly.
    fn resumes(self, v: u64) -> bool {
        (v as u128) < (self.millionths as u128) * (1u128 << 64) / Self::SCALE as u128
    }
}

impl Default for ResumeRate {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for ResumeRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.share())
    }
}

impl std::str::FromStr for ResumeRate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let share: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
        Self::new(share).ok_or_else(|| format!("{s} is not a share between 0 and 1"))
    }
}

impl Serialize for ResumeRate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.share())
    }
}

impl<'de> Deserialize<'de> for ResumeRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let share = f64::deserialize(d)?;
        Self::new(share).ok_or_else(|| serde::de::Error::custom(format!("resume rate {share} is not in [0, 1]")))
    }
}

/// What a campaign sets that its client plans depend on besides the CID; each is logged in
/// `run_start`, so a log says how to derive its plans again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Inputs {
    pub resume_rate: ResumeRate,
    /// What the client speaks: an HTTP/3 client fuzzes its established connection more often,
    /// where its HTTP/3 and QPACK data are ([`crate::mutate::h3`]).
    pub application: Application,
}

impl Inputs {
    pub fn new(resume_rate: ResumeRate, application: Application) -> Self {
        Self { resume_rate, application }
    }

    /// The campaign's defaults with `application`.
    pub fn speaking(application: Application) -> Self {
        Self { application, ..Self::default() }
    }
}

/// Everything one end of a connection does besides the mutations, derived from the CID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionPlan {
    /// The state whose packets are fuzzed.
    pub fuzz_state: FuzzState,
    /// Packets of that state, counted by distinct content, that pass untouched before fuzzing
    /// starts.
    pub wait_packets: u64,
    /// How many packets of that state, counted by distinct content, are mutated after the wait
    /// (with every retransmission of their content).
    pub fuzz_packets: u64,
    /// Whether the client resumes a TLS session (RFC 8446 §2.2): it first runs a clean priming
    /// connection (CID [`crate::chain::prime`]) for a session ticket, then offers that ticket.
    pub resume_session: bool,
    /// Whether the client would send 0-RTT data. s2n-quic implements no 0-RTT: the client logs
    /// the attempt as unsupported and never pretends to have made it.
    pub attempt_0rtt: bool,
    /// The client's requests, sent on one bidirectional stream each; empty for the server.
    pub requests: Vec<Request>,
    /// A `ready` plan's packets are counted, and fuzzed, among the STREAM contents only: an
    /// end's first 1-RTT contents are otherwise its NEW_CONNECTION_ID and RETIRE_CONNECTION_ID
    /// frames, and its streams (the requests and responses, HTTP/3's control and QPACK streams)
    /// come after the window.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub streams_only: bool,
    /// A coverage-guided child's ancestors, root first ([`crate::coverage::corpus`]): the plan
    /// is the root's, and each mutated content gets the ancestors' mutations before its own.
    /// Empty for every other connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lineage: Vec<Cid>,
}

impl ConnectionPlan {
    /// The plan of `role`'s end of the connection whose initial CID is `cid`, with the default
    /// [`Inputs`] (hq-interop, the default [`ResumeRate`]).
    pub fn from_cid(cid: &Cid, role: Role) -> Self {
        Self::from_cid_at(cid, role, Inputs::default())
    }

    /// The plan of `role`'s end of the connection whose initial CID is `cid`, for a campaign's
    /// `inputs`. Only a client's plan depends on them: the server's plan is drawn before the
    /// server knows what the connection speaks, and it never resumes.
    pub fn from_cid_at(cid: &Cid, role: Role, inputs: Inputs) -> Self {
        let mut rng = ConnectionSeed::from_cid(cid).plan_rng(role);
        // Weights favour the handshake, where parsers are most exposed, without starving the
        // established connection's frame handling. An HTTP/3 client has a second protocol to
        // fuzz in its established connection (its control, QPACK and request streams), and
        // most of its plans go there (64% instead of 35%); its handshake is the one an
        // hq-interop client makes, fuzzed by the other campaigns.
        let weights: [u32; 4] = match (role, inputs.application) {
            (Role::Client, Application::H3) => [20, 15, 70, 5],
            _ => [30, 25, 35, 10],
        };
        let states = [FuzzState::Initial, FuzzState::Handshake, FuzzState::Ready, FuzzState::Closing];
        let fuzz_state = states[WeightedIndex::new(weights).expect("non-empty weights").sample(&mut rng)];
        // A connection sends only a few distinct contents per state: waits stay short or fuzzing
        // would never begin. Either end's Initial flight is one content (the ClientHello, or the
        // ServerHello: CRYPTO at offset 0); later Initial packets are retransmissions of it or
        // ACKs, which do not count. A client's handshake flight is one content (its Finished). A
        // server's flight (EncryptedExtensions, Certificate, CertificateVerify, Finished) spans
        // several, at fixed crypto offsets for a given certificate.
        let wait_packets = match (fuzz_state, role) {
            (FuzzState::Initial, _) => 0,
            (FuzzState::Handshake, Role::Client) => 0,
            (FuzzState::Handshake, Role::Server) => rng.gen_range(0..=2),
            // A client's established connection sends its requests, an ACK or two, and its close:
            // packet 2 and later exist only for connections with several requests.
            (FuzzState::Ready, Role::Client) => [0, 0, 1, 2][rng.gen_range(0..4)],
            (FuzzState::Ready, Role::Server) => rng.gen_range(0..=1),
            (FuzzState::Closing, _) => 0,
        };
        // A server's later 1-RTT contents are what timing makes them: whether a response's bytes
        // share a packet with HANDSHAKE_DONE or the session ticket, and whether the connection
        // lasts long enough at all, differ from run to run. Its window stays on the first
        // contents, which carry HANDSHAKE_DONE, NEW_CONNECTION_ID, the session ticket and the
        // first response bytes.
        let fuzz_packets = match (fuzz_state, role) {
            (FuzzState::Ready, Role::Server) => rng.gen_range(1..=2),
            _ => rng.gen_range(1..=4),
        };
        let (resume_session, attempt_0rtt, requests) = match role {
            Role::Client => {
                let resume = inputs.resume_rate.resumes(rng.gen());
                // 0-RTT needs a resumed session (RFC 9001 §4.6.1).
                let zero_rtt = resume && rng.gen_bool(0.4);
                let count = [0, 1, 1, 1, 2, 2, 3][rng.gen_range(0..7)];
                let requests = (0..count)
                    .map(|_| Request { path: format!("/{}", RESPONSE_SIZES.choose(&mut rng).expect("sizes")) })
                    .collect();
                (resume, zero_rtt, requests)
            }
            Role::Server => (false, false, Vec::new()),
        };
        // Drawn last, so that the draws before it stay those of derivation v2 (for hq-interop). Most of an
        // HTTP/3 client's `ready` plans go to its streams, where the HTTP/3 is; a server's plan
        // cannot know what its connection will speak, and splits evenly.
        let streams_only = fuzz_state == FuzzState::Ready
            && rng.gen_bool(match (role, inputs.application) {
                (Role::Client, Application::H3) => 0.9,
                (Role::Client, Application::HqInterop) => 0.25,
                (Role::Server, _) => 0.5,
            });
        Self {
            fuzz_state,
            wait_packets,
            fuzz_packets,
            resume_session,
            attempt_0rtt,
            requests,
            streams_only,
            lineage: Vec::new(),
        }
    }

    /// The plan of `role`'s end of a child of the corpus entries `lineage` (root first): the
    /// root's plan, so that the ancestors' decisions fall on the same contents, with the lineage
    /// it repeats. An empty lineage is no child: use [`Self::from_cid_at`].
    pub fn child(lineage: Vec<Cid>, role: Role, inputs: Inputs) -> Self {
        let root = *lineage.first().expect("a child has a lineage");
        Self { lineage, ..Self::from_cid_at(&root, role, inputs) }
    }

    /// The plan of connection `cid` with `lineage` (its parents, from the corpus; empty for a
    /// blind connection).
    pub fn of(cid: &Cid, lineage: Vec<Cid>, role: Role, inputs: Inputs) -> Self {
        if lineage.is_empty() {
            Self::from_cid_at(cid, role, inputs)
        } else {
            Self::child(lineage, role, inputs)
        }
    }

    /// A plan that mutates nothing and resumes nothing and makes `requests`: the plan of the
    /// connections outside the chain (probes, priming connections), which always run clean.
    pub fn unfuzzed(requests: Vec<Request>) -> Self {
        Self {
            fuzz_state: FuzzState::Ready,
            wait_packets: 0,
            fuzz_packets: 0,
            resume_session: false,
            attempt_0rtt: false,
            requests,
            streams_only: false,
            lineage: Vec::new(),
        }
    }

    /// Whether the packet that first carried the `ordinal`-th distinct content of `state` (and
    /// every retransmission of it) is one the plan mutates.
    pub fn fuzzes(&self, state: FuzzState, ordinal: u64) -> bool {
        state == self.fuzz_state && ordinal >= self.wait_packets && ordinal - self.wait_packets < self.fuzz_packets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answers_v2() {
        let cid: Cid = "0123456789abcdef".parse().unwrap();
        let json = serde_json::to_string(&ConnectionPlan::from_cid(&cid, Role::Client)).unwrap();
        assert_eq!(json, KAT_PLAN_CLIENT_0123);
        let json = serde_json::to_string(&ConnectionPlan::from_cid(&cid, Role::Server)).unwrap();
        assert_eq!(json, KAT_PLAN_SERVER_0123);
    }

    const KAT_PLAN_CLIENT_0123: &str = r#"{"fuzz_state":"initial","wait_packets":0,"fuzz_packets":2,"resume_session":true,"attempt_0rtt":false,"requests":[{"path":"/65536"}]}"#;
    const KAT_PLAN_SERVER_0123: &str = r#"{"fuzz_state":"closing","wait_packets":0,"fuzz_packets":4,"resume_session":false,"attempt_0rtt":false,"requests":[]}"#;

    /// A compact pin of the client plans of a chain's first connections.
    #[test]
    fn known_answers_v2_chain() {
        let summary: Vec<String> = crate::chain::iter("0123456789abcdef".parse().unwrap())
            .take(6)
            .map(|c| {
                let p = ConnectionPlan::from_cid(&c, Role::Client);
                let paths: Vec<&str> = p.requests.iter().map(|r| r.path.as_str()).collect();
                format!(
                    "{} {}+{} r{} z{} {}",
                    p.fuzz_state,
                    p.wait_packets,
                    p.fuzz_packets,
                    p.resume_session as u8,
                    p.attempt_0rtt as u8,
                    paths.join(",")
                )
            })
            .collect();
        assert_eq!(summary, KAT_CHAIN_PLANS);
    }

    const KAT_CHAIN_PLANS: [&str; 6] = [
        "initial 0+2 r1 z0 /65536",
        "initial 0+2 r0 z0 /16384,/1200,/16384",
        "initial 0+2 r0 z0 /4096,/0,/0",
        "handshake 0+3 r0 z0 /1",
        "handshake 0+3 r0 z0 /1",
        "ready 1+1 r0 z0 ",
    ];

    #[test]
    fn the_resume_rate_sets_the_share_of_resuming_plans_and_nothing_else_of_fuzzing() {
        let cids: Vec<Cid> = crate::chain::iter("0123456789abcdef".parse().unwrap()).take(4000).collect();
        let share = |rate: f64| {
            let rate = ResumeRate::new(rate).unwrap();
            cids.iter()
                .filter(|c| {
                    ConnectionPlan::from_cid_at(c, Role::Client, Inputs::new(rate, Application::HqInterop))
                        .resume_session
                })
                .count() as f64
                / cids.len() as f64
        };
        assert_eq!(share(0.0), 0.0);
        assert_eq!(share(1.0), 1.0);
        for rate in [0.1, 0.25, 0.5, 0.9] {
            assert!((share(rate) - rate).abs() < 0.03, "rate {rate}: share {}", share(rate));
        }
        for c in &cids[..500] {
            let (a, b) = (
                ConnectionPlan::from_cid(c, Role::Client),
                ConnectionPlan::from_cid_at(
                    c,
                    Role::Client,
                    Inputs::new(ResumeRate::new(0.8).unwrap(), Application::HqInterop),
                ),
            );
            assert_eq!((a.fuzz_state, a.wait_packets, a.fuzz_packets), (b.fuzz_state, b.wait_packets, b.fuzz_packets));
            if a.resume_session == b.resume_session {
                assert_eq!(a, b, "a plan whose resumption the rate keeps is the same plan");
            }
            assert!(!b.attempt_0rtt || b.resume_session);
        }
        assert_eq!(
            ConnectionPlan::from_cid_at(&cids[0], Role::Client, Inputs::default()),
            ConnectionPlan::from_cid(&cids[0], Role::Client)
        );
    }

    #[test]
    fn resume_rates_parse_print_and_serialize() {
        let r: ResumeRate = "0.4".parse().unwrap();
        assert_eq!(r.to_string(), "0.4");
        assert_eq!(serde_json::to_string(&r).unwrap(), "0.4");
        assert_eq!(serde_json::from_str::<ResumeRate>("0.4").unwrap(), r);
        assert_eq!(ResumeRate::default().to_string(), "0.25");
        assert!("1.5".parse::<ResumeRate>().unwrap_err().contains("between 0 and 1"));
        assert!("-0.1".parse::<ResumeRate>().is_err());
        assert!("half".parse::<ResumeRate>().unwrap_err().contains("not a number"));
        assert!(serde_json::from_str::<ResumeRate>("2").is_err());
        // The default is exactly `gen_bool(0.25)`'s threshold.
        assert!(ResumeRate::DEFAULT.resumes((1 << 62) - 1) && !ResumeRate::DEFAULT.resumes(1 << 62));
        assert!(ResumeRate::new(1.0).unwrap().resumes(u64::MAX) && !ResumeRate::new(0.0).unwrap().resumes(0));
    }

    #[test]
    fn plans_cover_every_state_and_option() {
        let plans: Vec<ConnectionPlan> = crate::chain::iter("0123456789abcdef".parse().unwrap())
            .take(2000)
            .map(|c| ConnectionPlan::from_cid(&c, Role::Client))
            .collect();
        for state in FuzzState::ALL {
            assert!(plans.iter().any(|p| p.fuzz_state == state), "no plan fuzzes {state}");
        }
        assert!(plans.iter().any(|p| p.resume_session));
        assert!(plans.iter().any(|p| !p.resume_session));
        assert!(plans.iter().any(|p| p.attempt_0rtt));
        assert!(plans.iter().any(|p| p.requests.is_empty()));
        assert!(plans.iter().any(|p| p.requests.len() == 3));
    }

    proptest! {
        #[test]
        fn plan_is_a_function_of_cid_and_role(bytes in proptest::collection::vec(any::<u8>(), 8..=20)) {
            let cid = Cid::from_slice(&bytes).unwrap();
            for role in [Role::Client, Role::Server] {
                let plan = ConnectionPlan::from_cid(&cid, role);
                prop_assert_eq!(&plan, &ConnectionPlan::from_cid(&cid, role));
                prop_assert!(plan.fuzz_packets >= 1);
                prop_assert!(!plan.attempt_0rtt || plan.resume_session);
                let fuzzed = (0..64).filter(|pn| plan.fuzzes(plan.fuzz_state, *pn)).count() as u64;
                prop_assert_eq!(fuzzed, plan.fuzz_packets);
                if role == Role::Server {
                    prop_assert!(plan.requests.is_empty());
                } else if plan.fuzz_state == FuzzState::Handshake {
                    prop_assert_eq!(plan.wait_packets, 0, "a client's handshake flight is one content");
                }
                if plan.fuzz_state == FuzzState::Initial {
                    prop_assert_eq!(plan.wait_packets, 0, "an Initial flight is one content");
                }
            }
        }
    }
}
