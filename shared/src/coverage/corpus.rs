//! The corpus of a coverage-guided campaign (`--coverage`), and the lineage of its connections.
//!
//! A connection whose map reached something new (an edge no connection had hit, or a hit count
//! in a bucket not seen for an edge: AFL's "interesting") joins the corpus as an [`Entry`]. A
//! later connection may be a *child* of an entry: it makes its parent's decisions again (the
//! parent's plan, and in each content it mutates, the parent's mutations first) and then its own
//! on top, drawn from its own CID ([`crate::fuzzer::ConnectionFuzzer::child`]). A child of a
//! child repeats its whole lineage, root first, up to [`MAX_LINEAGE`] ancestors.
//!
//! What keeps a restart by CID exact under feedback:
//! - whether a connection is a child, and of which entry, is a pure function of its CID and of
//!   the entries *visible* to it ([`Corpus::lineage`]);
//! - the entries visible to connection `seq` are those of connections numbered below its
//!   generation's start ([`Generations::visible_below`]), a checkpoint boundary one checkpoint
//!   back: the corpus a connection sees changes only at checkpoints, and by the time the
//!   connection is launched every connection below that boundary has ended and been credited
//!   (the launcher waits for it; one checkpoint of slack keeps that wait rare);
//! - every entry is logged when it joins (`corpus_entry`, with its parents and what it added),
//!   so a run log holds the corpus: `--resume-from` and `--corpus-from` rebuild it, and the
//!   connections of the tail get the parents they had, whatever coverage timing does in the
//!   rerun. Coverage itself (which connection reaches what first) is timing, so it is taken from
//!   the log wherever the log has it and measured only beyond.
//!
//! A connection that is no child is exactly the blind campaign's connection of its CID: its
//! lineage generator ([`crate::seed::ConnectionSeed::lineage_rng`]) is apart from the plan's and
//! the contents'.

use crate::cid::Cid;
use crate::log::{Event, LogLine};
use crate::seed::ConnectionSeed;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The most ancestors a connection repeats: a child of an entry this deep is not made (its
/// connection runs blind), so a connection applies at most `MAX_LINEAGE + 1` generators to a
/// content, and stacked mutations do not bury the ones that found the entry.
pub const MAX_LINEAGE: usize = 3;

/// The share of connections that are children when the visible corpus is not empty. The rest
/// explore blind, as AFL++'s havoc keeps exploring beside its queue.
pub const CHILD_SHARE: f64 = 0.5;

/// The share of children whose parent is drawn among the entries that reached an edge no
/// connection had (when there are such): they are few, and they are where the campaign went
/// somewhere new, as AFL's "favored" entries are; a hit count in a new bucket is common, and the
/// rest of the corpus is mostly such entries.
pub const FAVORED_SHARE: f64 = 0.75;

/// A connection that reached new coverage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub cid: Cid,
    /// Its ancestors, root first (empty: a blind connection).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lineage: Vec<Cid>,
    /// Edges no connection had hit before it.
    pub new_edges: u64,
    /// Edges hit before, with a hit count in a new bucket.
    pub new_counts: u64,
}

/// Where generations begin: at checkpoint boundaries, every `every` sequence numbers (the
/// campaign's `--checkpoint-every`, logged in `run_start`, so a log's corpus is read with the
/// generations it was built with).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generations {
    pub every: u64,
}

impl Generations {
    /// The entries visible to connection `seq` are those numbered below this: the checkpoint
    /// boundary before the one at or below `seq`.
    pub fn visible_below(&self, seq: u64) -> u64 {
        let every = self.every.max(1);
        (seq / every).saturating_sub(1) * every
    }
}

/// The entries of a campaign's corpus, by sequence number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Corpus {
    entries: Vec<Entry>,
    /// The seqs of the entries that reached new edges ([`FAVORED_SHARE`]), in order.
    favored: Vec<u64>,
}

impl Corpus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `entry`; false (and nothing changes) when an entry of its seq is there already.
    pub fn join(&mut self, entry: Entry) -> bool {
        match self.entries.binary_search_by_key(&entry.seq, |e| e.seq) {
            Ok(_) => false,
            Err(at) => {
                if entry.new_edges > 0 {
                    let at = self.favored.partition_point(|&s| s < entry.seq);
                    self.favored.insert(at, entry.seq);
                }
                self.entries.insert(at, entry);
                true
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries of connections numbered below `seq`.
    pub fn below(&self, seq: u64) -> &[Entry] {
        &self.entries[..self.entries.partition_point(|e| e.seq < seq)]
    }

    /// The lineage of the connection `cid` that sees the entries below `visible_below`: its
    /// parent's lineage and its parent, root first; empty when it is no child (nothing visible,
    /// the draw says blind, or the parent drawn is [`MAX_LINEAGE`] deep already). Draws, always
    /// all three: the share, whether the parent is a favored entry ([`FAVORED_SHARE`]), and
    /// the parent, uniform over the visible entries of its kind.
    pub fn lineage(&self, cid: &Cid, visible_below: u64) -> Vec<Cid> {
        let visible = self.below(visible_below);
        if visible.is_empty() {
            return Vec::new();
        }
        let mut rng = ConnectionSeed::from_cid(cid).lineage_rng();
        let child = rng.gen_bool(CHILD_SHARE);
        let favored = &self.favored[..self.favored.partition_point(|&s| s < visible_below)];
        let parent = if rng.gen_bool(FAVORED_SHARE) && !favored.is_empty() {
            let seq = favored[rng.gen_range(0..favored.len())];
            &visible[visible.binary_search_by_key(&seq, |e| e.seq).expect("a favored entry is an entry")]
        } else {
            &visible[rng.gen_range(0..visible.len())]
        };
        if !child || parent.lineage.len() >= MAX_LINEAGE {
            return Vec::new();
        }
        let mut lineage = Vec::with_capacity(parent.lineage.len() + 1);
        lineage.extend_from_slice(&parent.lineage);
        lineage.push(parent.cid);
        lineage
    }
}

/// A campaign's corpus as its launcher and its credit see it: the entries, their generations,
/// and how far a log decided membership (a rerun's own coverage joins only beyond).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guide {
    pub corpus: Corpus,
    pub generations: Generations,
    pub decided_below: u64,
}

impl Guide {
    /// A campaign's own corpus, empty, with generations of `every` connections.
    pub fn new(every: u64) -> Self {
        Self { corpus: Corpus::new(), generations: Generations { every }, decided_below: 0 }
    }

    /// The corpus of a log, with its own generations (`every` when it logged none).
    pub fn from_logged(logged: LoggedCorpus, every: u64) -> Self {
        Self {
            corpus: logged.corpus,
            generations: logged.generations.unwrap_or(Generations { every }),
            decided_below: logged.decided_below,
        }
    }

    /// When connection `seq` must wait before its launch: `Some(boundary)` when its parents
    /// come from connections below `boundary` that this run credits itself (beyond what the log
    /// decided), each of which must have ended first.
    pub fn launch_waits_for(&self, seq: u64) -> Option<u64> {
        let below = self.generations.visible_below(seq);
        (below > self.decided_below).then_some(below)
    }

    /// The lineage of connection `seq` (`cid`): [`Corpus::lineage`] over what its generation sees.
    pub fn lineage(&self, seq: u64, cid: &Cid) -> Vec<Cid> {
        self.corpus.lineage(cid, self.generations.visible_below(seq))
    }

    /// Connection `seq` (`cid`, of `lineage`) reached `new`: the entry that joins, if it does
    /// (something new, beyond what the log decided, and not there already).
    pub fn credit(&mut self, seq: u64, cid: Cid, lineage: &[Cid], new: super::NewCoverage) -> Option<Entry> {
        if !new.is_new() || seq < self.decided_below {
            return None;
        }
        let entry = Entry { seq, cid, lineage: lineage.to_vec(), new_edges: new.edges, new_counts: new.buckets };
        self.corpus.join(entry.clone()).then_some(entry)
    }
}

impl From<Entry> for Event {
    fn from(e: Entry) -> Self {
        Event::CorpusEntry {
            seq: e.seq,
            cid: e.cid,
            lineage: e.lineage,
            new_edges: e.new_edges,
            new_counts: e.new_counts,
        }
    }
}

/// The corpus a run log holds (`--resume-from`, `--corpus-from`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedCorpus {
    pub corpus: Corpus,
    /// The generations it was built with (`run_start`'s `corpus_every`), when a run logged them.
    pub generations: Option<Generations>,
    /// The log decided membership below this seq: every connection below it that ended was
    /// credited by the logged run (one past the last `cid_end`). A rerun takes the log's word
    /// there, and measures coverage of its own only from here on.
    pub decided_below: u64,
}

impl LoggedCorpus {
    /// Every `corpus_entry` of the client run logs in `lines` (a file may hold several runs:
    /// restarts append), with the last run's generations.
    pub fn from_log(lines: &[LogLine]) -> Self {
        let mut out = LoggedCorpus { corpus: Corpus::new(), generations: None, decided_below: 0 };
        for line in lines.iter().filter(|l| l.role == crate::seed::Role::Client) {
            match &line.event {
                Event::RunStart { corpus_every: Some(every), .. } => {
                    out.generations = Some(Generations { every: *every });
                }
                Event::CorpusEntry { seq, cid, lineage, new_edges, new_counts } => {
                    out.corpus.join(Entry {
                        seq: *seq,
                        cid: *cid,
                        lineage: lineage.clone(),
                        new_edges: *new_edges,
                        new_counts: *new_counts,
                    });
                }
                Event::CidEnd { seq, .. } => out.decided_below = out.decided_below.max(seq + 1),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain;

    fn entry(seq: u64, lineage: Vec<Cid>) -> Entry {
        let cid = chain::nth("0123456789abcdef".parse().unwrap(), seq);
        Entry { seq, cid, lineage, new_edges: 1, new_counts: 0 }
    }

    #[test]
    fn generations_start_one_checkpoint_back() {
        let g = Generations { every: 100 };
        assert_eq!(g.visible_below(0), 0);
        assert_eq!(g.visible_below(199), 0);
        assert_eq!(g.visible_below(200), 100);
        assert_eq!(g.visible_below(299), 100);
        assert_eq!(g.visible_below(300), 200);
        assert_eq!(Generations { every: 0 }.visible_below(5), 4, "a zero period is taken as one");
    }

    #[test]
    fn entries_join_once_by_seq_and_in_order() {
        let mut c = Corpus::new();
        assert!(c.join(entry(30, vec![])));
        assert!(c.join(entry(10, vec![])));
        assert!(!c.join(entry(30, vec![])), "one entry per connection");
        assert_eq!(c.entries().iter().map(|e| e.seq).collect::<Vec<_>>(), [10, 30]);
        assert_eq!(c.below(30).len(), 1);
        assert_eq!(c.below(31).len(), 2);
    }

    #[test]
    fn lineage_is_a_function_of_the_cid_and_the_visible_entries() {
        let mut c = Corpus::new();
        for seq in 0..20 {
            c.join(entry(seq * 5, vec![]));
        }
        let chain: Vec<Cid> = chain::iter("fedcba9876543210".parse().unwrap()).take(400).collect();
        let children: Vec<Vec<Cid>> = chain.iter().map(|cid| c.lineage(cid, 50)).collect();
        // Again, and with entries past the visible boundary added: the same lineages.
        let mut later = c.clone();
        later.join(entry(51, vec![]));
        later.join(entry(500, vec![]));
        for (cid, lineage) in chain.iter().zip(&children) {
            assert_eq!(&c.lineage(cid, 50), lineage);
            assert_eq!(&later.lineage(cid, 50), lineage);
        }
        let share = children.iter().filter(|l| !l.is_empty()).count() as f64 / children.len() as f64;
        assert!((0.4..0.6).contains(&share), "about half are children: {share}");
        let visible: Vec<Cid> = c.below(50).iter().map(|e| e.cid).collect();
        assert!(children.iter().filter(|l| !l.is_empty()).all(|l| l.len() == 1 && visible.contains(&l[0])));
        assert!(Corpus::new().lineage(&chain[0], 1000).is_empty(), "an empty corpus makes no child");
    }

    #[test]
    fn children_favor_the_entries_that_reached_new_edges() {
        let mut c = Corpus::new();
        for seq in 0..40 {
            // One entry in ten reached a new edge; the rest, new hit counts.
            let e = Entry { new_edges: (seq % 10 == 0) as u64, new_counts: 1, ..entry(seq, vec![]) };
            c.join(e);
        }
        let favored: Vec<Cid> = c.entries().iter().filter(|e| e.new_edges > 0).map(|e| e.cid).collect();
        let parents: Vec<Cid> = chain::iter("fedcba9876543210".parse().unwrap())
            .take(2000)
            .filter_map(|cid| c.lineage(&cid, 40).pop())
            .collect();
        let share = parents.iter().filter(|p| favored.contains(p)).count() as f64 / parents.len() as f64;
        // 3/4 drawn among them, and a tenth of the rest.
        assert!((0.72..0.83).contains(&share), "{share}");
        // Only the visible ones: below 25, the favored are #0, #10 and #20.
        assert!(chain::iter("fedcba9876543210".parse().unwrap())
            .take(500)
            .filter_map(|cid| c.lineage(&cid, 25).pop())
            .all(|p| c.below(25).iter().any(|e| e.cid == p)));
    }

    #[test]
    fn a_child_repeats_its_parents_lineage_and_depth_is_bounded() {
        let root = entry(0, vec![]);
        let deep: Vec<Cid> = chain::iter(root.cid).take(MAX_LINEAGE).collect();
        let mut c = Corpus::new();
        c.join(entry(1, vec![root.cid]));
        let chain: Vec<Cid> = chain::iter("fedcba9876543210".parse().unwrap()).take(50).collect();
        let child = chain.iter().map(|cid| c.lineage(cid, 100)).find(|l| !l.is_empty()).expect("some child");
        assert_eq!(child, vec![root.cid, c.entries()[0].cid], "root first, the parent last");
        let mut c = Corpus::new();
        c.join(entry(1, deep));
        assert!(chain.iter().all(|cid| c.lineage(cid, 100).is_empty()), "no child of an entry at the depth limit");
    }

    #[test]
    fn a_log_gives_its_entries_generations_and_how_far_it_decided() {
        let start: Cid = "0123456789abcdef".parse().unwrap();
        let mut w = crate::log::LogWriter::new(Vec::new(), crate::seed::Role::Client);
        let run_start = |every| Event::RunStart {
            start_cid: Some(start),
            start_seq: 0,
            target: "127.0.0.1:4433".into(),
            mode: crate::log::Mode::Fuzz,
            derivation: crate::chain::DERIVATION.into(),
            version: "0".into(),
            args: vec![],
            planted_faults: vec![],
            resume_rate: None,
            shard: None,
            pacing: None,
            client_knobs: None,
            alpn: None,
            corpus_every: every,
        };
        w.write(run_start(Some(50))).unwrap();
        w.write(entry(3, vec![]).into()).unwrap();
        w.write(entry(9, vec![chain::nth(start, 3)]).into()).unwrap();
        // A `cid_end` as an older build wrote it: only its seq matters here.
        let end = |w: &mut crate::log::LogWriter<Vec<u8>>, seq: u64| {
            let line = format!(
                r#"{{"event":"cid_end","seq":{seq},"cid":"{}","outcome":"completed","error_code":null,"fuzzed_packets":0,"mutation_digest":"0","duration_ms":1}}"#,
                chain::nth(start, seq)
            );
            w.write(serde_json::from_str(&line).unwrap()).unwrap();
        };
        end(&mut w, 12);
        // A restart appended to the same file: its entries join, its period counts.
        w.write(run_start(Some(100))).unwrap();
        w.write(entry(9, vec![]).into()).unwrap();
        w.write(entry(20, vec![]).into()).unwrap();
        end(&mut w, 21);
        let lines = crate::log::read_log(&w.into_inner()[..]).unwrap();
        let logged = LoggedCorpus::from_log(&lines);
        assert_eq!(logged.corpus.entries().iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 9, 20]);
        assert_eq!(logged.corpus.entries()[1].lineage, [chain::nth(start, 3)], "the first entry of a seq stays");
        assert_eq!(logged.generations, Some(Generations { every: 100 }));
        assert_eq!(logged.decided_below, 22);
    }

    #[test]
    fn a_guide_credits_beyond_its_log_and_waits_only_for_its_own_credit() {
        let new = super::super::NewCoverage { edges: 2, buckets: 1 };
        let nothing = super::super::NewCoverage::default();
        let mut g = Guide::new(100);
        assert_eq!(g.launch_waits_for(199), None, "generation 0 and 1 see nothing");
        assert_eq!(g.launch_waits_for(200), Some(100));
        let e = entry(5, vec![]);
        assert_eq!(g.credit(5, e.cid, &[], nothing), None, "nothing new");
        let joined = g.credit(5, e.cid, &[], new).expect("joins");
        assert_eq!((joined.new_edges, joined.new_counts), (2, 1));
        assert_eq!(g.credit(5, e.cid, &[], new), None, "once");
        // A log's corpus: below what it decided, its word holds and nobody waits.
        let mut logged = Guide::from_logged(
            LoggedCorpus { corpus: g.corpus.clone(), generations: Some(Generations { every: 50 }), decided_below: 260 },
            100,
        );
        assert_eq!(logged.generations.every, 50, "the log's own generations");
        assert_eq!(logged.launch_waits_for(300), None);
        assert_eq!(logged.launch_waits_for(349), None);
        assert_eq!(logged.launch_waits_for(350), Some(300));
        assert_eq!(logged.credit(259, e.cid, &[], new), None, "decided by the log");
        assert!(logged.credit(260, e.cid, &[], new).is_some());
        assert_eq!(logged.lineage(300, &e.cid), logged.corpus.lineage(&e.cid, 250));
    }

    #[test]
    fn entries_read_from_their_json() {
        let e = entry(7, vec![]);
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("lineage"), "{json}");
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), e);
    }
}
