#!/usr/bin/env bash
# The project's promise in about a minute, on loopback: a campaign crashes a fuzz-server with a
# planted fault (it aborts on a ClientHello whose key share does not fit its group, as a buggy
# parser would), the restart from the last checkpoint reaches the same crash again, `bisect`
# names the one connection (CID) that does it, and `replay` of that CID alone kills a fresh
# server. Each step prints what it proves. Needs only what scripts/run-local.sh needs.
#
#   scripts/demo-crash.sh
#
# Environment: START_CID (default 2222222222222222, whose first crash comes after three
# checkpoints), OUT (the directory for logs; default runs/demo-<UTC time>).
# Exit status: 0 when every step showed what it should, 1 when one did not (it says which),
# 2 when cargo is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

start_cid=${START_CID:-2222222222222222}
out=${OUT:-runs/demo-$(date -u +%Y%m%dT%H%M%SZ)}

command -v cargo >/dev/null || { echo "demo-crash: cargo not found; install Rust (https://rustup.rs)" >&2; exit 2; }
echo "== building fuzz-server and fuzz-client (release)"
cargo build --release --quiet -p fuzz-server -p fuzz-client
target=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
export PATH=$target/release:$PATH NO_COLOR=1
mkdir -p "$out"
cd "$out"
rm -rf run.jsonl*

fail() { echo "demo-crash: FAILED: $*" >&2; exit 1; }
# The line after the one that says $2 in file $1: the commands fuzz-client prints.
line_after() { grep -A1 -F "$2" "$1" | tail -n 1; }

server="fuzz-server --mode clean --listen 127.0.0.1:{port} --planted-fault abort-on-bad-key-share"

echo
echo "== 1. a campaign from CID $start_cid against a supervised fuzz-server planted to abort"
status=0
fuzz-client --start-cid "$start_cid" --count 2000 --concurrency 4 --checkpoint-every 20 \
    --max-findings 1 --no-triage --log run.jsonl --server-cmd "$server" '127.0.0.1:{port}' 2>campaign.txt || status=$?
grep -E 'checkpoint #|new finding|server down:' campaign.txt | sed 's/^[^ ]*Z *//' || true
[[ $status == 3 ]] || fail "the campaign exited with status $status, not 3 (a finding)"
checkpoints=$(grep -c '"event":"checkpoint"' run.jsonl || true)
[[ $checkpoints -ge 1 ]] || fail "the campaign crashed the server before its first checkpoint"
restart=$(line_after campaign.txt "restart the campaign at the last checkpoint with:")
bisect=$(line_after campaign.txt "narrow it down to the connection that does it with:")
echo "-> proves: the server died (exit status 3: a finding), and $checkpoints checkpoint(s) say which"
echo "   connections ran before it with the server still up; the log names the restart and bisect commands."

echo
echo "== 2. the restart from the last checkpoint, against a fresh server"
echo "\$ $restart"
status=0
sh -c "$restart" 2>restart.txt || status=$?
grep -E 'campaign from|checkpoint #|finding seen again|new finding|server down:' restart.txt | sed 's/^[^ ]*Z *//' || true
[[ $status == 3 ]] || fail "the restart exited with status $status: the crash did not come back"
grep -q 'finding seen again' restart.txt || fail "the restart crashed the server with another bug"
echo "-> proves: the same CIDs with the same mutation decisions reach the same bug again (the same"
echo "   signature, seen a second time) without running the connections before the checkpoint."

echo
echo "== 3. bisect: stretches of the chain, each against a fresh server, down to one connection"
echo "\$ $bisect"
status=0
sh -c "$bisect" 2>bisect.txt || status=$?
grep -E '^trial |^culprit|^byte-exact' bisect.txt || true
[[ $status == 0 ]] || fail "bisect exited with status $status"
culprit=$(grep -o 'culprit after [0-9]* trials: seq [0-9]*, cid [0-9a-f]*' bisect.txt || true)
[[ -n $culprit ]] || fail "bisect named no single culprit"
cid=${culprit##* }
seq=${culprit#*seq }
seq=${seq%%,*}
echo "-> proves: connection #$seq (CID $cid) alone kills a fresh server: it is the culprit."

echo
echo "== 4. replay the culprit alone, printing each of its mutation decisions"
echo "\$ fuzz-client replay --cid $cid --seq $seq --server-cmd '$server' '127.0.0.1:{port}'"
status=0
fuzz-client replay --cid "$cid" --seq "$seq" --server-cmd "$server" '127.0.0.1:{port}' 2>replay.txt || status=$?
grep -E "$cid (initial|handshake|application)|PLANTED FAULT: ClientHello|server down:" replay.txt | sed 's/^[^ ]*Z *//' || true
[[ $status == 3 ]] || fail "the replay exited with status $status: it did not kill the server"
echo "-> proves: one CID is a reproducer; its mutation decisions follow from it alone."

echo
echo "== demo done: logs and captures in $out"
