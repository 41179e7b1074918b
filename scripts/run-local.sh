#!/usr/bin/env bash
# Runs both sides locally: builds fuzz-server and fuzz-client (release), starts a fuzzing
# fuzz-server on loopback, runs a short fuzz-client campaign against it, stops the server, and
# says where both run logs are. Needs nothing but a Rust toolchain and a C compiler.
#
#   scripts/run-local.sh [COUNT] [-- extra fuzz-client options]
#
# COUNT is the number of connections (default 500), with a checkpoint every 100 connections
# (CHECKPOINT_EVERY) so that the first run shows them. Environment: START_CID (the first CID of
# the chain; random by default), MODE (fuzz or clean, both sides; default fuzz), OUT (the
# directory for logs; default runs/local-<UTC time>).
set -euo pipefail
cd "$(dirname "$0")/.."

count=500
if [[ $# -gt 0 && $1 != "--" ]]; then count=$1; shift; fi
[[ ${1:-} == "--" ]] && shift
mode=${MODE:-fuzz}
out=${OUT:-runs/local-$(date -u +%Y%m%dT%H%M%SZ)}

command -v cargo >/dev/null || { echo "run-local: cargo not found; install Rust (https://rustup.rs)" >&2; exit 2; }
echo "== building fuzz-server and fuzz-client (release)" >&2
cargo build --release --quiet -p fuzz-server -p fuzz-client
target=${CARGO_TARGET_DIR:-target}

mkdir -p "$out"
server_log=$out/server.jsonl
client_log=$out/client.jsonl
rm -f "$client_log"

# Port 0: the kernel picks a free port; the server's run_start line names it.
source scripts/lib.sh
start_fuzz_server "$server_log" "$out/server.stderr" --mode "$mode" --write-cert "$out/server-cert.pem"
addr=$server_addr
cleanup() { kill -TERM "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT
echo "== fuzz-server listening on $addr (pid $server_pid, mode $mode)" >&2

client_args=(--count "$count" --checkpoint-every "${CHECKPOINT_EVERY:-100}" --mode "$mode" --log "$client_log" --ca "$out/server-cert.pem")
[[ -n ${START_CID:-} ]] && client_args+=(--start-cid "$START_CID")
echo "== fuzz-client ${client_args[*]} $* $addr" >&2
status=0
"$target/release/fuzz-client" "${client_args[@]}" "$@" "$addr" || status=$?

# Let connections the client abandoned reach the server's idle timeout (5 s), then stop the
# server: SIGTERM makes it finish its log and print its summary.
for _ in $(seq 70); do
    [[ $(grep -c '"event":"cid_start"' "$server_log") == $(grep -c '"event":"cid_end"' "$server_log") ]] && break
    sleep 0.1
done
trap - EXIT
if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    echo "== fuzz-server summary" >&2
    sed -n '/run summary/,$p' "$out/server.stderr" >&2
else
    wait "$server_pid" || true
    echo "== fuzz-server is DOWN; its stderr:" >&2
    tail -n 20 "$out/server.stderr" >&2
fi

cat >&2 <<TXT
== run logs
  client: $client_log
  server: $server_log (stderr: $out/server.stderr)
  server certificate: $out/server-cert.pem
TXT
exit "$status"
