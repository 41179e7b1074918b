#!/usr/bin/env bash
# The fuzzer's own cost: per target server, concurrency and campaign length, the connections per
# second, the client's CPU per connection, the server's share of a core and the client's peak
# memory; with two client builds side by side (CLIENTS), so that a change is measured against
# the build before it in one run.
#
#   scripts/bench-cost.sh                                      # fuzz-server, ngtcp2, aioquic; 2k and 10k
#   COUNTS=100000 TARGETS=fuzz-server CONCURRENCIES=32 scripts/bench-cost.sh   # the memory check
#   CLIENTS="target/release/fuzz-client ../old/target/release/fuzz-client" scripts/bench-cost.sh
#
# Each run gets a fresh server (scripts/interop/peer.sh start; fuzz-server in --mode clean, so
# that the figures are the client's), and the runs of the clients alternate, so that drift on a
# shared machine hits both alike. Columns: conn/s (the client's run_end); client CPU ms/conn
# (user + system time from GNU time over the connections); server CPU % (user + system time of
# the server process over the run's wall time, /proc/PID/stat, % of one core); client peak MB
# (GNU time's maximum resident set size).
#
# A run whose server goes down (exit 3: Debian's ngtcp2 0.12.1 meets its `negotiated_version`
# assertion within the first 1,200 CIDs from 0123456789abcdef) measures a dead server after
# it: compare only rows with exit 0, or pick START_CID elsewhere.
#
# Environment: START_CID (default 0123456789abcdef), TARGETS (peer.sh names, default "fuzz-server ngtcp2 aioquic"), CONCURRENCIES
# (default "16 32 64 auto"), COUNTS (default "2000 10000"), CLIENTS (fuzz-client binaries,
# default this checkout's release build), MODE (default fuzz), CLIENT_ARGS. Prints a markdown
# table; exit status 0 unless a run could not start (2 without GNU time or jq).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=${TARGETS:-fuzz-server ngtcp2 aioquic}
CONCURRENCIES=${CONCURRENCIES:-16 32 64 auto}
COUNTS=${COUNTS:-2000 10000}
MODE=${MODE:-fuzz}
START_CID=${START_CID:-0123456789abcdef}
CLIENT_ARGS=${CLIENT_ARGS:-}

command -v /usr/bin/time >/dev/null || { echo "bench-cost: GNU time (/usr/bin/time) is needed" >&2; exit 2; }
command -v jq >/dev/null || { echo "bench-cost: jq is needed to read the run logs" >&2; exit 2; }
cargo build --release --quiet -p fuzz-client -p fuzz-server
CLIENTS=${CLIENTS:-${CARGO_TARGET_DIR:-target}/release/fuzz-client}
source scripts/lib.sh
run_dir=${INTEROP_DIR:-target/interop}/run
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-cost.XXXXXX")
name= port=
cleanup() {
    [ -n "$port" ] && scripts/interop/peer.sh stop "$name" "$port" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
ticks=$(getconf CLK_TCK)

echo "| target | client | concurrency | connections | conn/s | client CPU ms/conn | server CPU % | client peak MB | exit |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for name in $TARGETS; do
    server_args=()
    [[ $name == fuzz-server ]] && server_args=(--mode clean)
    for count in $COUNTS; do
        for conc in $CONCURRENCIES; do
            for client in $CLIENTS; do
                port=$(free_udp_port)
                if ! scripts/interop/peer.sh start "$name" "$port" "${server_args[@]}" >/dev/null; then
                    echo "| $name | $client | $conc | $count | could not start the server |"
                    port=
                    continue
                fi
                pid=$(cat "$run_dir/$name-$port.pid")
                log="$work/run.jsonl"
                rm -f "$log"
                before=$(cpu_ticks "$pid")
                wall_before=$(date +%s.%N)
                status=0
                # shellcheck disable=SC2086 # CLIENT_ARGS is a list of options
                /usr/bin/time -f '%U %S %M' -o "$work/time" "$client" "127.0.0.1:$port" --mode "$MODE" \
                    --count "$count" --concurrency "$conc" --start-cid "$START_CID" --log "$log" --no-progress \
                    $CLIENT_ARGS 2>"$work/stderr" || status=$?
                wall=$(awk -v a="$wall_before" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
                server_cpu=$(awk -v a="$before" -v b="$(cpu_ticks "$pid" 2>/dev/null || echo "$before")" -v t="$ticks" \
                    -v w="$wall" 'BEGIN {printf "%.0f", (b - a) / t / w * 100}')
                scripts/interop/peer.sh stop "$name" "$port" >/dev/null 2>&1 || true
                port=
                rate=$(jq -r 'select(.event=="run_end") | .conn_per_s' "$log" 2>/dev/null | tail -1)
                # GNU time writes "Command exited with non-zero status N" first when it did.
                read -r user sys max_kb < <(tail -1 "$work/time")
                ms=$(awk -v u="$user" -v s="$sys" -v n="$count" 'BEGIN {printf "%.3f", (u + s) * 1000 / n}')
                printf '| %s | %s | %s | %s | %.0f | %s | %s | %.1f | %s |\n' "$name" "$client" "$conc" "$count" \
                    "${rate:-0}" "$ms" "$server_cpu" "$(awk -v k="$max_kb" 'BEGIN {print k / 1024}')" "$status"
                if [ "$status" != 0 ]; then tail -5 "$work/stderr" >&2; fi
            done
        done
    done
done
echo
echo "(client --mode $MODE from cid $START_CID; $(nproc) cores; fuzz-server in --mode clean)"
