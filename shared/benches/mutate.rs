//! Mutations per second on realistic 1200-byte payloads: a client Initial carrying a ClientHello
//! (padded to its capacity) and a full 1-RTT STREAM packet. Each iteration restores the payload,
//! makes a fresh per-packet generator as the binaries do, and mutates.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fuzz_shared::mutate::{corpus, Decision, Mutator};
use fuzz_shared::{ConnectionSeed, Role};
use std::hint::black_box;

fn mutate(c: &mut Criterion) {
    let seed = ConnectionSeed::from_cid(&"0123456789abcdef".parse().expect("cid"));
    let mut group = c.benchmark_group("mutate");
    group.throughput(Throughput::Elements(1));
    for sample in [corpus::client_initial(1), corpus::server_stream(1), corpus::server_handshake(1)] {
        let mut mutator = Mutator::new();
        let original = sample.buffer();
        let mut buf = original.clone();
        let mut decisions: Vec<Decision> = Vec::with_capacity(8);
        let mut pn = 0u64;
        let p = sample.packet;
        group.bench_function(BenchmarkId::from_parameter(sample.name), |b| {
            b.iter(|| {
                buf.copy_from_slice(&original);
                decisions.clear();
                pn += 1;
                let mut rng = seed.packet_rng(Role::Client, p.space, pn);
                let len = mutator.mutate(&mut rng, &p, &mut buf, sample.payload.len(), &mut decisions);
                black_box((len, &buf, &decisions));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, mutate);
criterion_main!(benches);
