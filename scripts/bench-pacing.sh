#!/usr/bin/env bash
# Benchmark of campaign pacing: fuzzed connections per second and the server's CPU share at
# fixed concurrency 16, 32 and 64 and at `--concurrency auto`, against each target server on
# loopback (a fresh server per run, started by scripts/interop/peer.sh), with the busy periods
# and refusals the client saw and the concurrency in force at the end.
#
#   scripts/bench-pacing.sh                                  # fuzz-server and aioquic, 2000 connections a run
#   COUNT=5000 TARGETS=fuzz-server SERVER_ARGS="--max-connections 32" scripts/bench-pacing.sh
#
# Environment: COUNT (connections per run, default 2000), CONCURRENCIES (default "16 32 64
# auto"), TARGETS (peer.sh names, default "fuzz-server aioquic"), MODE (the client's, default
# fuzz), SERVER_ARGS (extra options for every server, e.g. fuzz-server's --max-connections),
# CLIENT_ARGS (extra fuzz-client options). Server CPU: user + system time of the server process
# over the run's wall time (/proc/PID/stat), in percent of one core; the aim of `auto` is the
# server near its limit without refusals. The client and the server share the machine, so on a
# 2-core machine busy with other work the figures are noisy: compare runs of one invocation.
# Prints a markdown table; exit status 0 unless a run could not start.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-2000}
CONCURRENCIES=${CONCURRENCIES:-16 32 64 auto}
TARGETS=${TARGETS:-fuzz-server aioquic}
MODE=${MODE:-fuzz}
SERVER_ARGS=${SERVER_ARGS:-}
CLIENT_ARGS=${CLIENT_ARGS:-}

command -v jq >/dev/null || { echo "error: jq is needed to read the run logs" >&2; exit 2; }
cargo build --release --quiet -p fuzz-client -p fuzz-server
source scripts/lib.sh
target=${CARGO_TARGET_DIR:-target}/release
run_dir=${INTEROP_DIR:-target/interop}/run
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-pacing.XXXXXX")
name= port=
cleanup() {
    [ -n "$port" ] && scripts/interop/peer.sh stop "$name" "$port" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
ticks=$(getconf CLK_TCK)

echo "| target | concurrency | connections | seconds | conn/s | conn/s, 2nd half | server CPU % | busy periods | refused | concurrency at end | outcomes | exit |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"
for name in $TARGETS; do
    for conc in $CONCURRENCIES; do
        port=$(free_udp_port)
        # shellcheck disable=SC2086 # SERVER_ARGS is a list of options
        if ! scripts/interop/peer.sh start "$name" "$port" $SERVER_ARGS >/dev/null; then
            echo "| $name | $conc | could not start the server |"
            port=
            continue
        fi
        pid=$(cat "$run_dir/$name-$port.pid")
        log="$work/$name-$conc.jsonl"
        before=$(cpu_ticks "$pid")
        wall_before=$(date +%s.%N)
        status=0
        # shellcheck disable=SC2086 # CLIENT_ARGS is a list of options
        "$target/fuzz-client" "127.0.0.1:$port" --mode "$MODE" --count "$COUNT" --concurrency "$conc" \
            --checkpoint-every 500 --start-cid 0123456789abcdef --log "$log" --no-progress $CLIENT_ARGS \
            2>"$work/$name-$conc.stderr" || status=$?
        wall=$(awk -v a="$wall_before" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
        cpu=$(awk -v a="$before" -v b="$(cpu_ticks "$pid" 2>/dev/null || echo "$before")" -v t="$ticks" -v w="$wall" \
            'BEGIN {printf "%.0f", (b - a) / t / w * 100}')
        scripts/interop/peer.sh stop "$name" "$port" >/dev/null 2>&1 || true
        port=
        secs=$(jq -r 'select(.event=="run_end") | .elapsed_s' "$log" | tail -1)
        rate=$(jq -r 'select(.event=="run_end") | .conn_per_s' "$log" | tail -1)
        busy=$(jq -r 'select(.event=="server_busy") | .event' "$log" | wc -l)
        refused=$(jq -r 'select(.event=="server_ready") | .refused' "$log" | awk '{s += $1} END {print s + 0}')
        final=$(sed -n 's/^concurrency at the end: //p' "$work/$name-$conc.stderr" | tail -1)
        # The rate once `auto` has searched: connections ended in the second half of the run, over
        # the time they took (from the end of the first half's last to the end of the last).
        half=$(jq -r 'select(.event=="cid_end") | .ts' "$log" | python3 -c '
import sys, datetime
ts = [datetime.datetime.fromisoformat(l.strip().replace("Z", "+00:00")).timestamp() for l in sys.stdin if l.strip()]
n = len(ts) // 2
print(f"{(len(ts) - n) / (ts[-1] - ts[n - 1]):.0f}" if n > 1 and ts[-1] > ts[n - 1] else "-")')
        outcomes=$(jq -r 'select(.event=="cid_end") | .outcome' "$log" | sort | uniq -c |
            awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')
        printf '| %s | %s | %s | %.1f | %.0f | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$conc" "$COUNT" \
            "${secs:-0}" "${rate:-0}" "$half" "$cpu" "$busy" "$refused" "${final:--}" "$outcomes" "$status"
        if [ "$status" != 0 ]; then tail -5 "$work/$name-$conc.stderr" >&2; fi
    done
done
echo
echo "(client --mode $MODE, ${COUNT} connections a run from cid 0123456789abcdef; server options: ${SERVER_ARGS:-none}; $(nproc) cores)"
