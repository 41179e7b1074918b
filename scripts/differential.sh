#!/usr/bin/env bash
# A differential run: one chain of CIDs against several servers, then where their reactions to
# the same CID differ (fuzz-client differential; docs/oracle.md).
#
#   scripts/differential.sh                                # fuzz-server, ngtcp2, aioquic
#   COUNT=2000 scripts/differential.sh ngtcp2 aioquic -- --alpn h3 --expect-sizes
#
# PEERs are scripts/interop/peer.sh names (default: fuzz-server ngtcp2 aioquic; ngtcp2 and
# aioquic come from scripts/interop/install.sh). fuzz-server runs with --mode clean, so that the
# client's decisions are the only mutations. Each campaign starts its server itself
# (--server-cmd, a free port each) and they run one after the other, each with the machine to
# itself; options after `--` go to every campaign. The campaigns' logs, the table
# (differential.txt, also printed) and its JSON lines (differential.jsonl) go to OUT.
#
# Environment: COUNT (connections per server, default 1000), START_CID (default
# 0123456789abcdef), CONCURRENCY (default 16), OUT (default runs/differential-<UTC time>),
# NO_BUILD (set: use the release binaries as they are).
# Exit status: that of fuzz-client differential: 0 the servers agreed on every compared CID, 3
# they did not (the table says where); 2 bad usage, a peer not installed, or a campaign that
# wrote no log.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-1000}
START_CID=${START_CID:-0123456789abcdef}
CONCURRENCY=${CONCURRENCY:-16}
out=${OUT:-runs/differential-$(date -u +%Y%m%dT%H%M%SZ)}

peers=()
while [[ $# -gt 0 && $1 != -- ]]; do
    peers+=("$1")
    shift
done
[[ ${1:-} == -- ]] && shift
extra=("$@")
[[ ${#peers[@]} -gt 0 ]] || peers=(fuzz-server ngtcp2 aioquic)
[[ ${#peers[@]} -ge 2 ]] || { echo "differential: name at least two peers (scripts/interop/peer.sh list)" >&2; exit 2; }

if [[ -z ${NO_BUILD:-} ]]; then
    echo "== building fuzz-client and fuzz-server (release)" >&2
    cargo build --release --quiet -p fuzz-client -p fuzz-server
fi
client=${CARGO_TARGET_DIR:-target}/release/fuzz-client
mkdir -p "$out"

logs=()
for peer in "${peers[@]}"; do
    options=()
    [[ $peer == fuzz-server ]] && options=(--mode clean)
    cmd=$(bash scripts/interop/peer.sh cmd "$peer" '{port}' "${options[@]}") || exit 2
    log=$out/$peer.jsonl
    rm -f "$log"
    echo "== $peer: $COUNT connections from $START_CID" >&2
    status=0
    "$client" --start-cid "$START_CID" --count "$COUNT" --concurrency "$CONCURRENCY" --no-progress \
        --log "$log" "${extra[@]}" --server-cmd "$cmd" '127.0.0.1:{port}' 2>"$out/$peer.stderr" || status=$?
    # A campaign that found something (the server went down, and was restarted) still compares.
    echo "   exit status $status; stderr in $out/$peer.stderr" >&2
    [[ -s $log ]] || { echo "differential: the $peer campaign wrote no log:" >&2; tail -5 "$out/$peer.stderr" >&2; exit 2; }
    logs+=("$peer=$log")
done

status=0
"$client" differential --json "$out/differential.jsonl" "${logs[@]}" | tee "$out/differential.txt" || status=${PIPESTATUS[0]}
echo "differential: the table is in $out/differential.txt, its rows as JSON lines in $out/differential.jsonl" >&2
exit "$status"
