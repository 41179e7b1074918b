#!/usr/bin/env bash
# Soak benchmark (not a test): a long fuzz-client campaign against one fuzz-server, sampling the
# server's resident memory (VmRSS from /proc/PID/status) periodically. The server must stay up
# and its RSS flat: every connection's state is freed when it closes.
#
#   scripts/soak-server.sh [COUNT] [-- extra fuzz-client options]
#
# COUNT defaults to 100000 connections. Environment: EVERY (seconds between samples, default
# 10), START_CID (default 50a450a450a450a4), OUT (default runs/soak-<UTC time>).
# Prints a table of samples and a summary; exit status 0 if the server stayed up, 1 if not.
set -euo pipefail
cd "$(dirname "$0")/.."

count=100000
if [[ $# -gt 0 && $1 != "--" ]]; then count=$1; shift; fi
[[ ${1:-} == "--" ]] && shift
every=${EVERY:-10}
start_cid=${START_CID:-50a450a450a450a4}
out=${OUT:-runs/soak-$(date -u +%Y%m%dT%H%M%SZ)}

echo "== building fuzz-server and fuzz-client (release)" >&2
cargo build --release --quiet -p fuzz-server -p fuzz-client
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$out"
server_log=$out/server.jsonl
client_log=$out/client.jsonl
rm -f "$client_log"

source scripts/lib.sh
start_fuzz_server "$server_log" "$out/server.stderr" --mode fuzz
addr=$server_addr
client_pid=""
cleanup() {
    [[ -n $client_pid ]] && kill -TERM "$client_pid" 2>/dev/null || true
    kill -TERM "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT

connections() { grep -c '"event":"cid_start"' "$server_log" 2>/dev/null || true; }

echo "== soak: $count fuzzed connections against fuzz-server $addr (pid $server_pid), VmRSS every ${every}s" >&2
"$target/release/fuzz-client" --start-cid "$start_cid" --count "$count" --mode fuzz --no-progress \
    --log "$client_log" "$@" "$addr" 2>"$out/client.stderr" &
client_pid=$!

start=$(date +%s)
samples=$out/rss.tsv
printf 'elapsed_s\tserver_connections\tvmrss_kb\n' >"$samples"
printf '%9s  %18s  %10s\n' elapsed_s server_conns vmrss_kb
sample() {
    local line
    line=$(printf '%s\t%s\t%s' "$(( $(date +%s) - start ))" "$(connections)" "$(rss_kb "$server_pid")")
    printf '%s\n' "$line" >>"$samples"
    printf '%9s  %18s  %10s\n' $line
}
sample
while kill -0 "$client_pid" 2>/dev/null; do
    sleep "$every"
    kill -0 "$server_pid" 2>/dev/null || break
    sample
done
client_status=0
wait "$client_pid" || client_status=$?
client_pid=""

up=yes
if kill -0 "$server_pid" 2>/dev/null; then
    sleep 6 # abandoned connections reach the idle timeout
    sample
    kill -TERM "$server_pid"
    wait "$server_pid" || true
else
    up=no
    wait "$server_pid" || true
fi
trap - EXIT

# Flatness: compare the mean of the samples in the first and the last quarter of the run
# (the very first sample, before any connection, is left out).
awk -F'\t' -v up="$up" -v cs="$client_status" '
    NR > 2 { n++; r[n] = $3; if ($3 > max) max = $3; if (min == "" || $3 < min) min = $3; conns = $2 }
    END {
        q = int(n / 4); if (q < 1) q = 1
        for (i = 1; i <= q; i++) a += r[i]
        for (i = n - q + 1; i <= n; i++) b += r[i]
        a /= q; b /= q
        printf "== soak summary: server up: %s, fuzz-client exit status %d, %d server connections\n", up, cs, conns
        printf "   VmRSS min %d kB, max %d kB; mean of first quarter %.0f kB, last quarter %.0f kB (%+.1f%%)\n", min, max, a, b, (b - a) * 100 / a
    }' "$samples"
echo "   samples: $samples; logs: $client_log, $server_log; server stderr: $out/server.stderr" >&2
sed -n '/run summary/,$p' "$out/server.stderr"
tail -n 12 "$out/client.stderr"
[[ $up == yes ]]
