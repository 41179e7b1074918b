//! What the RFC oracle costs per connection: `judge` on the decisions of a typical fuzzed
//! connection (three decisions, under no rule: it walks every decision and every rule) and on
//! one a rule covers (it builds a verdict). fuzz-client judges each connection once, at its
//! `cid_end`.

use criterion::{criterion_group, criterion_main, Criterion};
use fuzz_shared::log::{Ending, MutatedContents, Outcome};
use std::hint::black_box;

fn mutated(decisions: &[(&str, &str)]) -> MutatedContents {
    let mut m = MutatedContents::new();
    for (id, op) in decisions {
        m.entry(id.parse().expect("content id")).or_default().push(op.to_string());
    }
    m
}

fn oracle(c: &mut Criterion) {
    let mut group = c.benchmark_group("oracle");
    let end = Ending {
        outcome: Outcome::PeerClosed,
        error_code: Some(0x0a),
        detail: Some("peer closed: PROTOCOL_VIOLATION"),
    };
    let unruled = mutated(&[
        ("initial/crypto@0", "tls:key_share.key"),
        ("initial/crypto@0", "havoc:flip_bit"),
        ("handshake/crypto@0", "field:crypto.length"),
    ]);
    group.bench_function("judge/no_rule", |b| {
        b.iter(|| black_box(fuzz_shared::oracle::judge(black_box(&unruled), end)))
    });
    let ruled = mutated(&[("application_data/stream:0@0", "insert:handshake_done")]);
    group.bench_function("judge/verdict", |b| b.iter(|| black_box(fuzz_shared::oracle::judge(black_box(&ruled), end))));
    group.finish();
}

criterion_group!(benches, oracle);
criterion_main!(benches);
