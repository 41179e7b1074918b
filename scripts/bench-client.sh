#!/usr/bin/env bash
# Benchmark of fuzz-client against fuzz-server on loopback: connections per second in
# `--mode clean` and `--mode fuzz`, next to the agreement of two fuzzed runs and the share of a
# core that the client and the server used; and the client's peak memory (max RSS), plus its
# VmRSS sampled through the run to show that it stays flat.
#
#   scripts/bench-client.sh                 # 20000 connections per run, concurrency 32
#   COUNT=100000 MODES=clean scripts/bench-client.sh    # the 100,000-connection memory check
#   CONCURRENCY=64 SERVER_MODE=fuzz scripts/bench-client.sh
#
# Each run gets a fresh fuzz-server. `--mode clean` runs once (row A); `--mode fuzz` runs twice
# over the same CIDs (rows A and B), and the line after them gives the agreement of the two runs
# (scripts/digest-agreement.py: the share of CIDs whose `mutation_digest` is equal), for the
# client's digests and the server's (which are all empty, so trivially equal, unless
# SERVER_MODE=fuzz). CPU columns: user + system time over the run's wall time, in percent of one
# core (the client's from GNU time, the server's from /proc/PID/stat utime + stime).
#
# Targets on a 2-core machine (client and server share it): >= 1000 clean connections/s and
# >= 400 fuzzed connections/s at concurrency 32, with the fuzzed runs' agreement >= 99%; client
# memory under 64 MB over 100,000 connections. The server runs in `--mode clean` by default so
# that the figures are the client's.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-20000}
CONCURRENCY=${CONCURRENCY:-32}
SERVER_MODE=${SERVER_MODE:-clean}
MODES=${MODES:-clean fuzz}

command -v /usr/bin/time >/dev/null || { echo "error: /usr/bin/time (GNU time) is needed for max RSS" >&2; exit 2; }
command -v jq >/dev/null || { echo "error: jq is needed to read the run logs" >&2; exit 2; }
command -v python3 >/dev/null || { echo "error: python3 is needed (scripts/digest-agreement.py)" >&2; exit 2; }

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
ticks=$(getconf CLK_TCK)

# Samples the client's VmRSS (KiB) every 0.5 s into $2 while process $1 lives.
sample_rss() {
    while kill -0 "$1" 2>/dev/null; do
        awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null >>"$2" || true
        sleep 0.5
    done
}


# agreement LOG_A LOG_B ROLE: "agreed/compared = share%", or "-".
agreement() {
    scripts/digest-agreement.py --json --role "$3" "$1" "$2" 2>/dev/null |
        jq -r '"\(.agreed)/\(.compared) = \(.share)%"' 2>/dev/null || echo -
}

printf '%-6s %3s %8s %6s %8s %8s %8s %8s %11s %11s %11s %5s\n' mode run count conc seconds conn/s \
    "cpu-cl%" "cpu-sv%" "maxRSS(MB)" "RSS@10%" "RSS@end" exit
for mode in $MODES; do
    runs=A
    [ "$mode" = fuzz ] && runs="A B"
    for run in $runs; do
        start_fuzz_server "$work/server-$mode-$run.jsonl" "$work/server-$mode-$run.stderr" --mode "$SERVER_MODE"
        port=${server_addr##*:}
        log="$work/client-$mode-$run.jsonl"
        server_before=$(cpu_ticks "$server_pid")
        wall_before=$(date +%s.%N)
        /usr/bin/time -v -o "$work/time-$mode-$run.txt" \
            "$target/fuzz-client" "127.0.0.1:$port" --mode "$mode" --count "$COUNT" --concurrency "$CONCURRENCY" \
            --checkpoint-every 1000 --start-cid 0123456789abcdef --log "$log" --no-progress \
            2>"$work/client-$mode-$run.stderr" &
        pid=$!
        sleep 0.2
        client_pid=$(pgrep -P "$pid" -x fuzz-client || echo "$pid")
        sample_rss "$client_pid" "$work/rss-$mode-$run.txt" &
        sampler=$!
        status=0
        wait "$pid" || status=$?
        wall=$(awk -v a="$wall_before" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
        server_cpu=$(awk -v a="$server_before" -v b="$(cpu_ticks "$server_pid")" -v t="$ticks" -v w="$wall" \
            'BEGIN {printf "%.0f", (b - a) / t / w * 100}')
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
        wait "$sampler" 2>/dev/null || true
        client_cpu=$(awk -F': ' -v w="$wall" '/User time|System time/ {s += $2} END {printf "%.0f", s / w * 100}' \
            "$work/time-$mode-$run.txt")
        secs=$(jq -r 'select(.event=="run_end") | .elapsed_s' "$log" | tail -1)
        rate=$(jq -r 'select(.event=="run_end") | .conn_per_s' "$log" | tail -1)
        maxrss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$work/time-$mode-$run.txt")
        n=$(wc -l <"$work/rss-$mode-$run.txt" || echo 0)
        early=$(awk -v n="$n" 'NR==int(n/10)+1 {printf "%.1f", $1/1024}' "$work/rss-$mode-$run.txt")
        last=$(awk 'END {printf "%.1f", $1/1024}' "$work/rss-$mode-$run.txt")
        printf '%-6s %3s %8s %6s %8.1f %8.0f %8s %8s %11s %11s %11s %5s\n' "$mode" "$run" "$COUNT" "$CONCURRENCY" \
            "${secs:-0}" "${rate:-0}" "$client_cpu" "$server_cpu" "$maxrss" "${early:--}" "${last:--}" "$status"
        if [ "$status" != 0 ]; then tail -5 "$work/client-$mode-$run.stderr" >&2; fi
    done
    if [ "$mode" = fuzz ]; then
        printf '%-6s A/B agreement: client %s, server %s\n' "$mode" \
            "$(agreement "$work/client-fuzz-A.jsonl" "$work/client-fuzz-B.jsonl" client)" \
            "$(agreement "$work/server-fuzz-A.jsonl" "$work/server-fuzz-B.jsonl" server)"
    fi
done
echo "(server: fuzz-server --mode $SERVER_MODE, a fresh one per run; client outcomes:"
for mode in $MODES; do
    printf '  %s: %s\n' "$mode" "$(jq -r 'select(.event=="cid_end") | .outcome' "$work/client-$mode-A.jsonl" | sort | uniq -c | tr -s ' \n' ' ')"
done
echo ")"
