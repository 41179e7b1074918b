#!/usr/bin/env bash
# Crash reproduction benchmark (not a test): the project's promise, measured end to end against
# a server that crashes on a malformed ClientHello and is slow enough that clients retransmit.
#
#   scripts/crash-repro.sh                 # 10 random start CIDs
#   RUNS=3 DELAY_MS=100 CONCURRENCY=64 scripts/crash-repro.sh
#
# For each start CID: a fuzz campaign against a fresh fuzz-server with the planted fault
# `abort-on-bad-key-share` and `--delay-ms` (the client sees PTO retransmissions of its Initial
# flight, as against a loaded real server); then the three commands its `server_down` gives or
# leads to, each against a fresh server:
#   repro   the restart command from the last checkpoint: does it crash the server again?
#   bisect  the bisect command: does it name one culprit CID?
#   replay  the culprit's replay: does it alone kill a fresh server?
#   pcap    where fuzz-client has `replay --pcap`: the culprit's Initial datagrams from the
#           campaign's crash capture, resent byte for byte: do they kill a fresh server?
# Prints a line per step and a markdown table. Environment: RUNS (default 10), CONCURRENCY
# (default 16), DELAY_MS (default 50), COUNT (the campaign's cap, default 5000), CHECKPOINT
# (checkpoint period, default 50), OUT (logs; default runs/crash-repro-<UTC time>).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
CONCURRENCY=${CONCURRENCY:-16}
DELAY_MS=${DELAY_MS:-50}
COUNT=${COUNT:-5000}
CHECKPOINT=${CHECKPOINT:-50}
OUT=${OUT:-runs/crash-repro-$(date -u +%Y%m%dT%H%M%SZ)}
bin=${CARGO_TARGET_DIR:-target}/release

cargo build --release --quiet -p fuzz-client -p fuzz-server
mkdir -p "$OUT"
source scripts/lib.sh

# field LOG EVENT KEY: the value of KEY in the first EVENT line of LOG (strings unquoted).
field() {
    python3 - "$@" <<'PY'
import json, sys
log, event, key = sys.argv[1:4]
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == event and e.get("role") == "client":
        v = e.get(key)
        print("" if v is None else v)
        break
PY
}

has_pcap=no
"$bin/fuzz-client" replay --help 2>/dev/null | grep -q -- '--pcap' && has_pcap=yes

rows=()
for run in $(seq "$RUNS"); do
    start=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    port=$(free_udp_port)
    server="$bin/fuzz-server --listen 127.0.0.1:$port --mode clean --delay-ms $DELAY_MS --planted-fault abort-on-bad-key-share"
    log="$OUT/$start.jsonl"
    set +e
    "$bin/fuzz-client" --start-cid "$start" --count "$COUNT" --concurrency "$CONCURRENCY" \
        --checkpoint-every "$CHECKPOINT" --no-progress --log "$log" --server-cmd "$server" \
        "127.0.0.1:$port" 2>"$log.stderr"
    status=$?
    set -e
    if [[ $status -ne 3 ]]; then
        echo "run $run ($start): no crash (exit $status)"
        rows+=("| $start | no crash | - | - | - | - | - |")
        continue
    fi
    found=$(grep -c '"event":"cid_start"' "$log")
    cp_seq=$(field "$log" server_down last_checkpoint_seq)
    repro=$(field "$log" server_down repro)
    bisect=$(field "$log" server_down bisect)
    echo "run $run ($start): crash after $found connections, last checkpoint #$cp_seq"

    # The restart logs elsewhere than the campaign, to count its own connections.
    repro=${repro//$log/$OUT/$start.repro.jsonl}
    set +e
    sh -c "$repro" 2>"$OUT/$start.repro.stderr"
    repro_status=$?
    set -e
    repro_n=$(grep -c '"event":"cid_start"' "$OUT/$start.repro.jsonl" 2>/dev/null || echo 0)
    [[ $repro_status -eq 3 ]] && repro_ok="crashed after $repro_n" || repro_ok="no (exit $repro_status)"
    echo "  repro: $repro_ok"

    set +e
    sh -c "$bisect" 2>"$OUT/$start.bisect.stderr"
    bisect_status=$?
    set -e
    verdict=$(grep -m1 -E '^(culprit after|after [0-9]+ trials|not reproduced)' "$OUT/$start.bisect.stderr" || true)
    trials=$(grep -c '^trial ' "$OUT/$start.bisect.stderr" || true)
    culprit="" replay_ok="-" pcap_ok="-"
    if [[ $verdict == "culprit after"* ]]; then
        culprit=$(sed -E 's/.*seq ([0-9]+), cid ([0-9a-f]+).*/\2/' <<<"$verdict")
        bisect_ok="$culprit ($trials trials)"
        replay=$(grep -A1 '^reproduce it alone' "$OUT/$start.bisect.stderr" | tail -1)
        set +e
        sh -c "$replay" 2>"$OUT/$start.replay.stderr"
        replay_status=$?
        set -e
        [[ $replay_status -eq 3 ]] && replay_ok=killed || replay_ok="no (exit $replay_status)"
        pcap="$log.crash.pcap"
        if [[ $has_pcap == yes && -f $pcap ]]; then
            port2=$(free_udp_port)
            set +e
            "$bin/fuzz-client" replay --pcap "$pcap" --cid "$culprit" \
                --server-cmd "${server/127.0.0.1:$port/127.0.0.1:$port2}" "127.0.0.1:$port2" \
                2>"$OUT/$start.pcap.stderr"
            pcap_status=$?
            set -e
            [[ $pcap_status -eq 3 ]] && pcap_ok=killed || pcap_ok="no (exit $pcap_status)"
        fi
    else
        bisect_ok="${verdict:-exit $bisect_status} ($trials trials)"
    fi
    echo "  bisect: $bisect_ok; replay: $replay_ok; replay --pcap: $pcap_ok"
    rows+=("| $start | after $found | #$cp_seq | $repro_ok | $bisect_ok | $replay_ok | $pcap_ok |")
done

echo
echo "Crash reproduction: $RUNS campaigns, concurrency $CONCURRENCY, fuzz-server --delay-ms $DELAY_MS" \
    "--planted-fault abort-on-bad-key-share, checkpoints every $CHECKPOINT"
echo
echo "| start CID | crash | last checkpoint | repro from it | bisect culprit | replay alone | replay --pcap |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
echo
echo "(logs in $OUT)"
