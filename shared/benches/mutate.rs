//! Mutations per second on realistic 1200-byte payloads: a client Initial carrying a ClientHello
//! (padded to its capacity) and a full 1-RTT STREAM packet. Each iteration restores the payload,
//! makes a fresh generator for a content as the binaries do, and mutates it. `fuzzer/...` measures
//! the interceptors' whole entry point, `ConnectionFuzzer::on_packet` (frames read, content keys
//! ordered, the targeted frame mutated alone), on a connection whose plan fuzzes that packet.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fuzz_shared::application::Application;
use fuzz_shared::fuzzer::PacketMutator;
use fuzz_shared::mutate::{corpus, Decision, Mutator};
use fuzz_shared::{ConnectionFuzzer, ConnectionSeed, ContentKey, FuzzState, Role};
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
        let mut n = 0u64;
        let p = sample.packet;
        group.bench_function(BenchmarkId::from_parameter(sample.name), |b| {
            b.iter(|| {
                buf.copy_from_slice(&original);
                decisions.clear();
                n += 1;
                let mut rng = seed.content_rng(Role::Client, p.space, &ContentKey::new(0x06, 0, n));
                let len = mutator.mutate(&mut rng, &p, &mut buf, sample.payload.len(), &mut decisions);
                black_box((len, &buf, &decisions));
            })
        });
    }
    // A client connection whose plan fuzzes its Initial, and its first Initial packet.
    let cid = fuzz_shared::chain::iter("0123456789abcdef".parse().expect("cid"))
        .find(|c| {
            ConnectionFuzzer::new(c, Role::Client, Application::HqInterop).plan().fuzz_state == FuzzState::Initial
        })
        .expect("an Initial plan");
    let sample = corpus::client_initial(1);
    let original = sample.buffer();
    let mut buf = original.clone();
    let mut mutator = PacketMutator::new();
    group.bench_function(BenchmarkId::new("fuzzer", sample.name), |b| {
        b.iter(|| {
            buf.copy_from_slice(&original);
            let mut fuzzer = ConnectionFuzzer::new(&cid, Role::Client, Application::HqInterop);
            let sent = fuzzer.on_packet(&mut mutator, sample.packet.space, &mut buf, sample.payload.len());
            black_box((sent, &buf));
        })
    });
    group.finish();
}

criterion_group!(benches, mutate);
criterion_main!(benches);
