//! The flight recorder: the exact UDP datagrams the client sent and received for the connections
//! in flight and the last ones that ended, so that when the server goes down the crash capture
//! (`<log>.crash.pcap`, [`crate::triage::capture`]) holds what the server saw just before it died.
//!
//! Pure: no sockets and no s2n-quic types. The packet interceptor hands it each datagram as sent
//! (`intercept_tx_datagram`: encrypted, after every mutation, the bytes on the wire) with the
//! connection it belongs to, and each datagram received before s2n-quic decodes it
//! (`intercept_rx_datagram`, which knows no connection). A received datagram waits as *pending*
//! until the connection that decrypts it claims it (`intercept_rx_payload` with a connection
//! subject, called synchronously for the same datagram in s2n-quic-transport 0.91: the endpoint's
//! `receive_datagram` calls the datagram hook, looks the connection up by its DCID and hands it the
//! packets, whose payload hook runs after decryption). That is s2n-quic's own routing, so it is
//! exact, short headers included. A datagram nobody claims (it did not decrypt, or its connection
//! is closing) is attributed by its Destination Connection ID instead, compared with the connection
//! IDs each connection is known by: the Source Connection ID of its own long-header packets, and
//! the DCIDs of the datagrams it claimed (s2n-quic's client moves off its handshake connection ID,
//! so the server's later packets carry others). Failing that it is counted as unattributed and
//! dropped.
//!
//! Bounds (memory stays flat however long a campaign runs):
//! - the connections in flight, and at most [`Bounds::ended`] that ended (oldest evicted first);
//! - per connection, its first [`Bounds::head`] datagrams (the handshake, Initials included) and
//!   its last [`Bounds::tail`] (what it did last); those in between are counted, not kept;
//! - at most [`Bounds::bytes`] of datagram buffers in all (their capacity, which is what they
//!   cost): past it, ended connections are evicted early.
//!
//! Datagram buffers are recycled through a pool: in steady state recording copies bytes into a
//! buffer that already exists, and allocates nothing.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::SystemTime;

/// Which way a datagram went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    FromServer,
}

/// One UDP payload as it was on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub at: SystemTime,
    pub direction: Direction,
    pub bytes: Vec<u8>,
}

/// How much the recorder keeps; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub ended: usize,
    pub head: usize,
    pub tail: usize,
    pub bytes: usize,
}

impl Bounds {
    /// The client's bounds: 256 ended connections, the first 16 and the last 32 datagrams of each,
    /// 8 MiB in all (about 140 connections that each fetched 64 KiB).
    pub const CLIENT: Bounds = Bounds { ended: 256, head: 16, tail: 32, bytes: 8 << 20 };
}

/// The longest connection ID QUIC v1 allows (RFC 9000 §17.2).
const MAX_CID_LEN: usize = 20;
/// The connection IDs remembered per connection (the latest ones).
const KNOWN_CIDS: usize = 4;
/// Spare datagram buffers kept for reuse beyond those in use (an evicted connection frees at most
/// head + tail of them at once).
const POOL_LIMIT: usize = 512;

/// One connection's datagrams.
#[derive(Clone, Debug)]
pub struct Flight<M> {
    /// Who the connection is (the client's [`crate::quic::conn_state::ConnShared`]).
    pub meta: M,
    /// The order in which connections began recording.
    pub ordinal: u64,
    /// The server's address, and this end's, as the first datagram sent reported them.
    pub server: SocketAddr,
    pub local: SocketAddr,
    pub head: Vec<Datagram>,
    pub tail: VecDeque<Datagram>,
    /// Datagrams between the head and the tail that were not kept.
    pub skipped: u64,
    /// The connection has ended (s2n-quic dropped it).
    pub ended: bool,
    /// This end's connection IDs, for datagrams no connection claimed.
    cids: LocalCids,
}

/// The connection IDs a connection is known by: all of one length (s2n-quic's local IDs are),
/// learned from the SCID of its first long-header packet; the latest [`KNOWN_CIDS`] are kept.
#[derive(Clone, Copy, Debug, Default)]
struct LocalCids {
    len: u8,
    ids: [[u8; MAX_CID_LEN]; KNOWN_CIDS],
    count: u8,
    next: u8,
}

impl LocalCids {
    fn learn(&mut self, cid: &[u8]) {
        if cid.is_empty() || cid.len() > MAX_CID_LEN || self.len != 0 && cid.len() != self.len as usize {
            return;
        }
        self.len = cid.len() as u8;
        if self.known().any(|known| known == cid) {
            return;
        }
        self.ids[self.next as usize][..cid.len()].copy_from_slice(cid);
        self.next = (self.next + 1) % KNOWN_CIDS as u8;
        self.count = (self.count + 1).min(KNOWN_CIDS as u8);
    }

    /// Learns the DCID of a datagram this connection claimed.
    fn learn_from(&mut self, datagram: &[u8]) {
        match datagram.first() {
            Some(first) if first & 0x80 != 0 => {
                if let Some(h) = fuzz_shared::initial::parse_v1_long_header(datagram) {
                    self.learn(h.dcid);
                }
            }
            Some(_) if self.len > 0 => {
                if let Some(dcid) = datagram.get(1..1 + self.len as usize) {
                    self.learn(dcid);
                }
            }
            _ => {}
        }
    }

    fn known(&self) -> impl Iterator<Item = &[u8]> {
        self.ids[..self.count as usize].iter().map(|id| &id[..self.len as usize])
    }

    fn addressed(&self, datagram: &[u8]) -> bool {
        self.known().any(|cid| fuzz_shared::initial::addressed_to(datagram, cid))
    }
}

impl<M> Flight<M> {
    /// The datagrams kept, in order.
    pub fn datagrams(&self) -> impl Iterator<Item = &Datagram> {
        self.head.iter().chain(self.tail.iter())
    }

    /// Adds a datagram: to the head while it has room, otherwise to the tail, whose oldest
    /// datagram then makes way (returned, for its buffer to be reused).
    fn push(&mut self, datagram: Datagram, bounds: &Bounds) -> Option<Datagram> {
        if self.head.len() < bounds.head {
            self.head.push(datagram);
            return None;
        }
        if bounds.tail == 0 {
            self.skipped += 1;
            return Some(datagram);
        }
        self.tail.push_back(datagram);
        if self.tail.len() <= bounds.tail {
            return None;
        }
        self.skipped += 1;
        self.tail.pop_front()
    }
}

/// The recorder; see the module documentation. `M` names a connection.
pub struct FlightRecorder<M> {
    bounds: Bounds,
    live: HashMap<u64, Flight<M>>,
    ended: VecDeque<Flight<M>>,
    /// A received datagram no connection has claimed yet.
    pending: Option<Datagram>,
    pool: Vec<Vec<u8>>,
    /// Capacity of the datagram buffers kept (pending included).
    bytes: usize,
    next_ordinal: u64,
    /// Received datagrams that no connection claimed and whose DCID matched none.
    pub unattributed: u64,
}

impl<M: Clone> FlightRecorder<M> {
    pub fn new(bounds: Bounds) -> Self {
        Self {
            bounds,
            live: HashMap::new(),
            ended: VecDeque::new(),
            pending: None,
            pool: Vec::new(),
            bytes: 0,
            next_ordinal: 0,
            unattributed: 0,
        }
    }

    /// Records a datagram sent by connection `id`; false if that connection is not recording yet
    /// (then [`Self::begin`] it and record again).
    pub fn sent(&mut self, id: u64, at: SystemTime, bytes: &[u8]) -> bool {
        if !self.live.contains_key(&id) {
            return false;
        }
        let datagram = self.copy(at, Direction::ToServer, bytes);
        let flight = self.live.get_mut(&id).expect("checked above");
        if flight.cids.count == 0 {
            if let Some(h) = fuzz_shared::initial::parse_v1_long_header(bytes) {
                flight.cids.learn(h.scid);
            }
        }
        self.keep(id, datagram);
        true
    }

    /// Starts recording connection `id`.
    pub fn begin(&mut self, id: u64, meta: M, server: SocketAddr, local: SocketAddr) {
        let ordinal = self.next_ordinal;
        self.next_ordinal += 1;
        self.live.insert(
            id,
            Flight {
                meta,
                ordinal,
                server,
                local,
                head: Vec::with_capacity(self.bounds.head),
                tail: VecDeque::with_capacity(self.bounds.tail),
                skipped: 0,
                ended: false,
                cids: LocalCids::default(),
            },
        );
    }

    /// A datagram received, not yet attributed: it stays pending until a connection claims it or
    /// the next one arrives.
    pub fn received(&mut self, at: SystemTime, bytes: &[u8]) {
        self.settle_pending();
        let datagram = self.copy(at, Direction::FromServer, bytes);
        self.pending = Some(datagram);
    }

    /// Connection `id` decrypted a packet of the pending datagram: it is that connection's.
    pub fn claim(&mut self, id: u64) {
        if let (Some(flight), Some(datagram)) = (self.live.get_mut(&id), self.pending.as_ref()) {
            flight.cids.learn_from(&datagram.bytes);
            let datagram = self.pending.take().expect("checked above");
            self.keep(id, datagram);
        }
    }

    /// Connection `id` ended: it joins the ended connections, evicting the oldest beyond the bounds.
    pub fn end(&mut self, id: u64) {
        // A datagram still pending may be addressed to it: settle it while it is live.
        self.settle_pending();
        if let Some(mut flight) = self.live.remove(&id) {
            flight.ended = true;
            self.ended.push_back(flight);
        }
        self.evict();
    }

    /// Copies of every connection kept, in the order they began.
    pub fn snapshot(&mut self) -> Vec<Flight<M>> {
        self.settle_pending();
        let mut all: Vec<Flight<M>> = self.ended.iter().chain(self.live.values()).cloned().collect();
        all.sort_by_key(|f| f.ordinal);
        all
    }

    /// Capacity of the datagram buffers held.
    #[cfg(test)]
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    fn copy(&mut self, at: SystemTime, direction: Direction, bytes: &[u8]) -> Datagram {
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(bytes);
        self.bytes += buf.capacity();
        Datagram { at, direction, bytes: buf }
    }

    fn recycle(&mut self, datagram: Datagram) {
        self.bytes -= datagram.bytes.capacity();
        if self.pool.len() < POOL_LIMIT {
            self.pool.push(datagram.bytes);
        }
    }

    /// Adds a datagram to a live connection.
    fn keep(&mut self, id: u64, datagram: Datagram) {
        let bounds = self.bounds;
        match self.live.get_mut(&id) {
            Some(flight) => {
                if let Some(old) = flight.push(datagram, &bounds) {
                    self.recycle(old);
                }
                self.evict();
            }
            None => self.recycle(datagram),
        }
    }

    /// The pending datagram goes to the connection its DCID names (live ones first, then the
    /// most recently ended), or is counted as unattributed.
    fn settle_pending(&mut self) {
        let Some(datagram) = self.pending.take() else { return };
        let addressed = |f: &Flight<M>| f.cids.addressed(&datagram.bytes);
        if let Some(id) = self.live.iter().find(|(_, f)| addressed(f)).map(|(&id, _)| id) {
            self.keep(id, datagram);
            return;
        }
        let bounds = self.bounds;
        let old = match self.ended.iter_mut().rev().find(|f| addressed(f)) {
            Some(flight) => flight.push(datagram, &bounds),
            None => {
                self.unattributed += 1;
                Some(datagram)
            }
        };
        if let Some(old) = old {
            self.recycle(old);
        }
        self.evict();
    }

    /// Drops the oldest ended connections beyond the count and byte bounds.
    fn evict(&mut self) {
        while self.ended.len() > self.bounds.ended || (self.bytes > self.bounds.bytes && !self.ended.is_empty()) {
            let mut flight = self.ended.pop_front().expect("not empty");
            for d in flight.head.drain(..) {
                self.recycle(d);
            }
            for d in std::mem::take(&mut flight.tail) {
                self.recycle(d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SERVER: &str = "127.0.0.1:4433";
    const LOCAL: &str = "0.0.0.0:5000";

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn small() -> Bounds {
        Bounds { ended: 3, head: 2, tail: 3, bytes: 1 << 20 }
    }

    fn begin(r: &mut FlightRecorder<u64>, id: u64) {
        r.begin(id, id * 10, SERVER.parse().unwrap(), LOCAL.parse().unwrap());
    }

    /// A v1 Initial long header from `scid` (to DCID 8 x 0xdd), then `n` bytes.
    fn long_from(scid: &[u8], n: usize) -> Vec<u8> {
        let mut p = vec![0xc0, 0, 0, 0, 1, 8];
        p.extend_from_slice(&[0xdd; 8]);
        p.push(scid.len() as u8);
        p.extend_from_slice(scid);
        p.resize(p.len() + n, 0);
        p
    }

    fn firsts(f: &Flight<u64>) -> Vec<u8> {
        f.datagrams().map(|d| d.bytes[0]).collect()
    }

    #[test]
    fn keeps_the_head_and_the_tail_of_a_connection() {
        let mut r = FlightRecorder::new(small());
        assert!(!r.sent(7, at(0), &[1]), "not recording before begin");
        begin(&mut r, 7);
        for i in 0..10u8 {
            assert!(r.sent(7, at(i as u64), &[i, 0xff]));
        }
        let snap = r.snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(firsts(&snap[0]), [0, 1, 7, 8, 9], "the first 2 and the last 3");
        assert_eq!(snap[0].skipped, 5);
        assert_eq!(snap[0].meta, 70);
        assert_eq!(r.bytes_held(), 40, "5 datagrams of 2 bytes, each in a buffer of 8 (the least Vec allocates)");
        assert!(!snap[0].ended);
    }

    #[test]
    fn keeps_the_last_ended_connections_and_every_live_one() {
        let mut r = FlightRecorder::new(small());
        for id in 0..6 {
            begin(&mut r, id);
            r.sent(id, at(id), &[id as u8]);
        }
        for id in 0..5 {
            r.end(id);
        }
        let snap = r.snapshot();
        let ids: Vec<u64> = snap.iter().map(|f| f.meta / 10).collect();
        assert_eq!(ids, [2, 3, 4, 5], "the last 3 ended and the live one, in the order they began");
        assert_eq!(snap.iter().map(|f| f.ended).collect::<Vec<_>>(), [true, true, true, false]);
        assert_eq!(r.bytes_held(), 4 * 8);
    }

    #[test]
    fn a_byte_budget_evicts_ended_connections_early() {
        let mut r = FlightRecorder::new(Bounds { ended: 100, head: 4, tail: 4, bytes: 2500 });
        for id in 0..5 {
            begin(&mut r, id);
            r.sent(id, at(id), &[0; 1000]);
            r.end(id);
        }
        assert_eq!(r.snapshot().len(), 2, "2 x 1000 bytes fit in 2500");
        // A live connection is never evicted, even over the budget.
        begin(&mut r, 9);
        for _ in 0..3 {
            r.sent(9, at(9), &[0; 1000]);
        }
        let snap = r.snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].meta, 90);
    }

    #[test]
    fn a_received_datagram_goes_to_the_connection_that_claims_it() {
        let mut r = FlightRecorder::new(small());
        begin(&mut r, 1);
        begin(&mut r, 2);
        r.received(at(5), &[0x41, 1, 2, 3]);
        r.claim(2);
        r.claim(1); // nothing pending any more: a second packet of the same datagram
        let snap = r.snapshot();
        assert_eq!(snap[0].datagrams().count(), 0);
        assert_eq!(
            snap[1].datagrams().map(|d| (d.direction, d.bytes.clone())).collect::<Vec<_>>(),
            [(Direction::FromServer, vec![0x41, 1, 2, 3])]
        );
    }

    #[test]
    fn an_unclaimed_datagram_goes_by_its_dcid_or_is_counted() {
        let mut r = FlightRecorder::new(small());
        let scid = [0xa1, 0xa2, 0xa3, 0xa4];
        begin(&mut r, 1);
        begin(&mut r, 2);
        r.sent(1, at(0), &long_from(&[0xb0; 4], 10));
        r.sent(2, at(1), &long_from(&scid, 10));
        // A short header to connection 2's CID, never claimed (it did not decrypt).
        r.received(at(2), &[0x40, 0xa1, 0xa2, 0xa3, 0xa4, 9, 9]);
        // The next datagram settles it; this one is addressed to nobody.
        r.received(at(3), &[0x40, 0x01, 0x02, 0x03, 0x04]);
        r.end(2); // settles the second: unattributed
        let snap = r.snapshot();
        assert_eq!(snap[0].datagrams().count(), 1);
        let got: Vec<Direction> = snap[1].datagrams().map(|d| d.direction).collect();
        assert_eq!(got, [Direction::ToServer, Direction::FromServer]);
        assert_eq!(r.unattributed, 1);
        // A late datagram for the ended connection still reaches it by its DCID.
        r.received(at(4), &[0x40, 0xa1, 0xa2, 0xa3, 0xa4]);
        let snap = r.snapshot();
        assert_eq!(snap.iter().find(|f| f.meta == 20).unwrap().datagrams().count(), 3);
    }

    #[test]
    fn connection_ids_seen_in_claimed_datagrams_are_learned() {
        let mut r = FlightRecorder::new(small());
        begin(&mut r, 1);
        r.sent(1, at(0), &long_from(&[0xa0; 4], 10));
        // The server moves to another of our CIDs (s2n-quic's client rotates off its first one).
        r.received(at(1), &[0x40, 0xc1, 0xc2, 0xc3, 0xc4, 7]);
        r.claim(1);
        // Later, a datagram to it that nobody claims (the connection is closing) still goes there.
        r.received(at(2), &[0x40, 0xc1, 0xc2, 0xc3, 0xc4, 8]);
        r.end(1);
        assert_eq!(r.unattributed, 0);
        assert_eq!(r.snapshot()[0].datagrams().count(), 3);
        // At most 4 are kept, all of the first one's length.
        let mut cids = LocalCids::default();
        for i in 0..6u8 {
            cids.learn(&[i; 4]);
        }
        cids.learn(&[9; 5]);
        assert_eq!(cids.known().map(|c| c[0]).collect::<Vec<_>>(), [4, 5, 2, 3]);
    }

    #[test]
    fn buffers_are_reused() {
        let mut r = FlightRecorder::new(small());
        for id in 0..10 {
            begin(&mut r, id);
            for _ in 0..10 {
                r.sent(id, at(id), &[0; 1200]);
            }
            r.end(id);
        }
        // Each connection holds 5 buffers; 4 connections' worth (3 ended + 1 evicted per turn, or
        // the tail's rotations) is all that ever exists: the pool absorbs the rest.
        let held = r.snapshot().iter().map(|f| f.datagrams().count()).sum::<usize>();
        assert_eq!(held, 15);
        assert!(r.pool.len() <= 10, "pool {}", r.pool.len());
        assert!(r.pool.iter().all(|b| b.capacity() >= 1200));
        assert_eq!(r.bytes_held(), 15 * 1200);
    }
}
