#!/usr/bin/env bash
# The project's test command: what the README tells a new machine to run, and what CI runs.
#
# Everything runs on release builds: s2n-quic is slow in debug builds, and its debug assertions
# fire on what a fuzzer does on purpose (a reused initial CID, for one). The end-to-end tests start
# real fuzz-server and fuzz-client processes on loopback (127.0.0.1) only.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "error: cargo not found; install Rust (https://rustup.rs) first" >&2
    exit 2
fi

echo "== format"
cargo fmt --all -- --check

echo "== build (release)"
cargo build --release --workspace --all-targets --locked

echo "== clippy"
cargo clippy --release --workspace --all-targets --locked -- -D warnings

echo "== rustdoc (intra-doc links resolve, private items too)"
RUSTDOCFLAGS="-D warnings" cargo doc --release --workspace --no-deps --document-private-items --locked

echo "== tests (release)"
# One test binary at a time keeps the end-to-end tests' timing honest on a 2-core machine.
cargo test --release --workspace --locked -- --test-threads=1 "$@"
