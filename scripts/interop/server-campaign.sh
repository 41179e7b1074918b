#!/usr/bin/env bash
# A reproducible server-side campaign: fuzz-server (fuzz mode) fuzzes a third-party client that
# chooses its own initial DCID, Debian's ngtcp2 example client (`gtlsclient --dcid`, HTTP/3).
#
#   scripts/interop/server-campaign.sh
#   COUNT=300 CONCURRENCY=8 START_CID=a1b2c3d4e5f60718 scripts/interop/server-campaign.sh
#
# fuzz-server seeds each connection's mutations from the CID the client chose, so the CIDs of a
# chain (from cid-chain, built with fuzz-client) replay on the server side: two runs, each against
# a fresh fuzz-server, make the same server-side decisions (scripts/digest-agreement.py
# --role server). Each connection is one gtlsclient process GETting PATHS; COUNT of them, up to
# CONCURRENCY at once. Prints a markdown table: run, connections the server logged, gtlsclient
# processes that exited 0 (it exits 0 after its idle timeout too, so this says little), the
# server's outcomes, the server up at the end; then the agreement of the two runs' server digests.
#
# Environment: COUNT (default 200), CONCURRENCY (default 4), START_CID (default
# 0123456789abcdef), PATHS (default "/1000 /16384"), CLIENT_TIMEOUT (gtlsclient --timeout,
# default 1s: a fuzzed connection often stalls), SERVER_ARGS (more fuzz-server options), OUT
# (logs; default runs/server-campaign-<UTC time>), NO_BUILD (set: use the release binaries as
# they are, as tests/tests/h3.rs does).
# Exit status: 0 when both runs ran with the server up at the end, 1 if not, 2 when gtlsclient is
# not installed (scripts/interop/install.sh ngtcp2).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

COUNT=${COUNT:-200}
CONCURRENCY=${CONCURRENCY:-4}
START_CID=${START_CID:-0123456789abcdef}
PATHS=${PATHS:-/1000 /16384}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-1s}
out=${OUT:-runs/server-campaign-$(date -u +%Y%m%dT%H%M%SZ)}

command -v gtlsclient >/dev/null || { echo "server-campaign: gtlsclient is not installed: scripts/interop/install.sh ngtcp2" >&2; exit 2; }
command -v jq >/dev/null || { echo "server-campaign: jq is needed to read the run logs" >&2; exit 2; }
if [[ -z ${NO_BUILD:-} ]]; then
    echo "== building fuzz-client (cid-chain) and fuzz-server (release)" >&2
    cargo build --release --quiet -p fuzz-client -p fuzz-server
fi
mkdir -p "$out"
bin=${CARGO_TARGET_DIR:-target}/release

# one_connection SEQ CID: one gtlsclient connection with that DCID; prints "SEQ EXIT".
one_connection() {
    local port=${server_addr##*:} urls=() p
    for p in $PATHS; do urls+=("https://localhost:$port$p"); done
    if gtlsclient -q --exit-on-all-streams-close --timeout="$CLIENT_TIMEOUT" --dcid="$2" \
        127.0.0.1 "$port" "${urls[@]}" >/dev/null 2>&1; then
        echo "$1 0"
    else
        echo "$1 $?"
    fi
}
export -f one_connection
export PATHS CLIENT_TIMEOUT

rows=()
ok=0
for run in a b; do
    # shellcheck disable=SC2086 # SERVER_ARGS is a list of options
    start_fuzz_server "$out/server-$run.jsonl" "$out/server-$run.stderr" --mode fuzz ${SERVER_ARGS:-}
    export server_addr
    # shellcheck disable=SC2016 # $0 and $1 are for the inner bash
    "$bin/cid-chain" --start-cid "$START_CID" --count "$COUNT" |
        xargs -P "$CONCURRENCY" -n 2 bash -c 'one_connection "$0" "$1"' >"$out/client-$run.txt"
    up=no
    kill -0 "$server_pid" 2>/dev/null && up=yes
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    logged=$(jq -s '[.[] | select(.event == "cid_end")] | length' "$out/server-$run.jsonl")
    exited_0=$(awk '$2 == 0' "$out/client-$run.txt" | wc -l)
    outcomes=$(jq -rs '[.[] | select(.event == "cid_end") | .outcome] | group_by(.) | map("\(.[0]) \(length)") | join(", ")' \
        "$out/server-$run.jsonl")
    rows+=("| $run | $logged | $exited_0/$COUNT | $outcomes | $up |")
    [[ $up == yes ]] && ok=$((ok + 1))
    echo "run $run: server logged $logged connections; gtlsclient exited 0: $exited_0/$COUNT; server up: $up" >&2
done

echo
echo "server-side campaign: $COUNT gtlsclient connections (--dcid from the chain of $START_CID), concurrency $CONCURRENCY, GET $PATHS"
echo
echo "| run | server connections | gtlsclient exit 0 | server outcomes | server up |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
echo
echo "server digests: $(python3 scripts/digest-agreement.py --role server "$out/server-a.jsonl" "$out/server-b.jsonl")"
echo "logs: $out"
[[ $ok == 2 ]]
