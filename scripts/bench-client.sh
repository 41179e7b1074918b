#!/usr/bin/env bash
# Benchmark of fuzz-client against fuzz-server on loopback: connections per second in
# `--mode clean` and `--mode fuzz`, and the client's peak memory (max RSS), plus its VmRSS
# sampled through the run to show that it stays flat.
#
#   scripts/bench-client.sh                 # 20000 connections per mode, concurrency 32
#   COUNT=100000 scripts/bench-client.sh    # the 100,000-connection memory check
#   CONCURRENCY=64 SERVER_MODE=fuzz scripts/bench-client.sh
#
# Targets on a 2-core machine (client and server share it): >= 1000 clean connections/s and
# >= 400 fuzzed connections/s at concurrency 32; client memory under 64 MB over 100,000
# connections. The server runs in `--mode clean` by default so that the figures are the client's.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-20000}
CONCURRENCY=${CONCURRENCY:-32}
SERVER_MODE=${SERVER_MODE:-clean}
MODES=${MODES:-clean fuzz}

command -v /usr/bin/time >/dev/null || { echo "error: /usr/bin/time (GNU time) is needed for max RSS" >&2; exit 2; }
command -v jq >/dev/null || { echo "error: jq is needed to read the run logs" >&2; exit 2; }

cargo build --release --quiet -p fuzz-client -p fuzz-server
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-client.XXXXXX")
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

source scripts/lib.sh
start_fuzz_server "$work/server.jsonl" "$work/server.stderr" --mode "$SERVER_MODE"
port=${server_addr##*:}

# Samples the client's VmRSS (KiB) every 0.5 s into $2 while process $1 lives.
sample_rss() {
    while kill -0 "$1" 2>/dev/null; do
        awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null >>"$2" || true
        sleep 0.5
    done
}

printf '%-6s %8s %6s %10s %10s %12s %12s %12s %6s\n' mode count conc seconds conn/s "maxRSS(MB)" "RSS@10%(MB)" "RSS@end(MB)" exit
for mode in $MODES; do
    log="$work/client-$mode.jsonl"
    /usr/bin/time -v -o "$work/time-$mode.txt" \
        "$target/fuzz-client" "127.0.0.1:$port" --mode "$mode" --count "$COUNT" --concurrency "$CONCURRENCY" \
        --checkpoint-every 1000 --start-cid 0123456789abcdef --log "$log" --no-progress \
        2>"$work/client-$mode.stderr" &
    pid=$!
    sleep 0.2
    client_pid=$(pgrep -P "$pid" -x fuzz-client || echo "$pid")
    sample_rss "$client_pid" "$work/rss-$mode.txt" &
    sampler=$!
    status=0
    wait "$pid" || status=$?
    wait "$sampler" 2>/dev/null || true
    secs=$(jq -r 'select(.event=="run_end") | .elapsed_s' "$log" | tail -1)
    rate=$(jq -r 'select(.event=="run_end") | .conn_per_s' "$log" | tail -1)
    maxrss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$work/time-$mode.txt")
    n=$(wc -l <"$work/rss-$mode.txt" || echo 0)
    early=$(awk -v n="$n" 'NR==int(n/10)+1 {printf "%.1f", $1/1024}' "$work/rss-$mode.txt")
    last=$(awk 'END {printf "%.1f", $1/1024}' "$work/rss-$mode.txt")
    printf '%-6s %8s %6s %10.1f %10.0f %12s %12s %12s %6s\n' "$mode" "$COUNT" "$CONCURRENCY" "${secs:-0}" "${rate:-0}" "$maxrss" "${early:--}" "${last:--}" "$status"
    if [ "$status" != 0 ]; then tail -5 "$work/client-$mode.stderr" >&2; fi
done
echo "(server: fuzz-server --mode $SERVER_MODE; client outcomes:"
for mode in $MODES; do
    printf '  %s: %s\n' "$mode" "$(jq -r 'select(.event=="cid_end") | .outcome' "$work/client-$mode.jsonl" | sort | uniq -c | tr -s ' \n' ' ')"
done
echo ")"
