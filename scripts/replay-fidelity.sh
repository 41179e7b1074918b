#!/usr/bin/env bash
# Replay fidelity benchmark (not a test): does a campaign make the same mutation decisions when
# it is run again, against our fuzz-server and against third-party servers?
#
#   scripts/replay-fidelity.sh
#   TARGETS="ngtcp2 aioquic" CONCURRENCY="16" COUNT=200 scripts/replay-fidelity.sh
#
# For each target and concurrency: two runs of the same COUNT CIDs (the same --start-cid), each
# against a fresh server that fuzz-client starts itself (--server-cmd, from
# scripts/interop/peer.sh cmd), then the agreement of the two runs (scripts/digest-agreement.py:
# the share of CIDs whose `mutation_digest` in `cid_end` is equal), each run's connections per
# second, completed connections and whether the server stayed up (`run_end`'s server_up and the
# client's exit status). Prints one line per run as it goes and a markdown table at the end.
#
# Targets (TARGETS, default all four):
#   fuzz-server       fuzz-server --mode fuzz (its own mutations on; the server's digests are
#                     compared too, in the column `server agreed`)
#   fuzz-server-slow  the same with --delay-ms 100 (skipped, with a note, when fuzz-server has no
#                     such option)
#   ngtcp2            ngtcp2's hq-interop server (scripts/interop/install.sh ngtcp2)
#   aioquic           aioquic (scripts/interop/install.sh aioquic)
# A target that is not installed is skipped with a note. Environment: COUNT (default 500),
# CONCURRENCY (a list, default "16 64 auto"), START_CID (default 0123456789abcdef), MODE (fuzz-client
# --mode, default fuzz), CLIENT_ARGS (more fuzz-client options), OUT (logs; default
# runs/fidelity-<UTC time>). Exit status 0 when every row ran (whatever its numbers), 1 if not.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-500}
CONCURRENCY=${CONCURRENCY:-16 64 auto}
TARGETS=${TARGETS:-fuzz-server fuzz-server-slow ngtcp2 aioquic}
START_CID=${START_CID:-0123456789abcdef}
MODE=${MODE:-fuzz}
out=${OUT:-runs/fidelity-$(date -u +%Y%m%dT%H%M%SZ)}

command -v jq >/dev/null || { echo "replay-fidelity: jq is needed to read the run logs" >&2; exit 2; }
command -v python3 >/dev/null || { echo "replay-fidelity: python3 is needed (scripts/digest-agreement.py)" >&2; exit 2; }
echo "== building fuzz-client and fuzz-server (release)" >&2
cargo build --release --quiet -p fuzz-client -p fuzz-server
client=${CARGO_TARGET_DIR:-target}/release/fuzz-client
mkdir -p "$out"
out=$(cd "$out" && pwd) # the server command runs elsewhere
source scripts/lib.sh

client_pid=
# shellcheck disable=SC2317 # run by the trap
cleanup() {
    # fuzz-client stops the server it started when it is interrupted (SIGINT, exit 130).
    if [[ -n $client_pid ]] && kill -0 "$client_pid" 2>/dev/null; then
        kill -INT "$client_pid" 2>/dev/null || true
        wait "$client_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# peer_of TARGET: the peer.sh name and the server options of a target, or a note on why it
# cannot run here (on stdout, prefixed "skip: ").
peer_of() {
    case $1 in
        fuzz-server) echo "fuzz-server --mode fuzz" ;;
        fuzz-server-slow)
            if "${CARGO_TARGET_DIR:-target}/release/fuzz-server" --help | grep -q -- '--delay-ms'; then
                echo "fuzz-server --mode fuzz --delay-ms 100"
            else
                echo "skip: fuzz-server has no --delay-ms option (yet)"
            fi
            ;;
        *)
            local why
            why=$(scripts/interop/peer.sh list | awk -v t="$1" '$1 == t { print $2 }')
            case $why in
                ready) echo "$1" ;;
                missing) echo "skip: not installed (scripts/interop/install.sh $1)" ;;
                *) echo "skip: unknown target" ;;
            esac
            ;;
    esac
}

# run_once TARGET CONC RUN PEER [OPTION...]: one campaign against a fresh server; sets
# run_status, run_rate, run_up, run_completed, run_log, run_server_log.
run_once() {
    local target=$1 conc=$2 run=$3 peer=$4
    shift 4
    local port cmd server_args=("$@")
    port=$(free_udp_port)
    run_log=$out/$target-c$conc-$run.jsonl
    run_server_log=
    rm -f "$run_log" "$run_log.server-stderr"
    if [[ $peer == fuzz-server ]]; then
        run_server_log=$out/$target-c$conc-$run.server.jsonl
        rm -f "$run_server_log"
        server_args+=(--log "$run_server_log")
    fi
    cmd=$(scripts/interop/peer.sh cmd "$peer" "$port" "${server_args[@]}")
    # shellcheck disable=SC2086 # CLIENT_ARGS is a list of options
    "$client" --start-cid "$START_CID" --count "$COUNT" --concurrency "$conc" --mode "$MODE" --no-progress \
        --log "$run_log" --server-cmd "$cmd" ${CLIENT_ARGS:-} "127.0.0.1:$port" 2>"$run_log.stderr" &
    client_pid=$!
    run_status=0
    wait "$client_pid" || run_status=$?
    client_pid=
    run_rate=$(jq -r 'select(.event=="run_end") | .conn_per_s | floor' "$run_log" 2>/dev/null | tail -1 || true)
    run_up=$(jq -r 'select(.event=="run_end") | if .server_up then "up" else "down" end' "$run_log" 2>/dev/null | tail -1 || true)
    run_completed=$(jq -r 'select(.event=="cid_end" and .outcome=="completed") | .seq' "$run_log" 2>/dev/null | wc -l || true)
    run_ended=$(jq -r 'select(.event=="cid_end") | .seq' "$run_log" 2>/dev/null | wc -l || true)
    printf '   run %s: exit %s, %s conn/s, %s/%s completed, server %s (log %s)\n' "$run" "$run_status" "${run_rate:--}" \
        "$run_completed" "$run_ended" "${run_up:-?}" "$run_log" >&2
    if [[ $run_status != 0 ]]; then tail -n 5 "$run_log.stderr" | sed 's/^/      /' >&2; fi
}

# agreement LOG_A LOG_B ROLE: "agreed/compared share% | fuzzed-agreed/fuzzed-compared" or "-".
agreement() {
    local json
    json=$(scripts/digest-agreement.py --json --role "$3" "$1" "$2" 2>/dev/null) || { echo "- | - | -"; return; }
    jq -r '"\(.agreed)/\(.compared) | \(.share)% | \(.fuzzed_agreed)/\(.fuzzed_compared)"' <<<"$json"
}

rows=()
notes=()
failed=0
for target in $TARGETS; do
    spec=$(peer_of "$target")
    if [[ $spec == skip:* ]]; then
        echo "== $target: ${spec#skip: }" >&2
        notes+=("- $target: skipped: ${spec#skip: }")
        continue
    fi
    read -r -a peer_argv <<<"$spec"
    for conc in $CONCURRENCY; do
        echo "== $target, concurrency $conc: 2 runs of $COUNT CIDs from $START_CID" >&2
        run_once "$target" "$conc" A "${peer_argv[@]}"
        a=("$run_log" "$run_status" "${run_rate:--}" "$run_completed" "${run_up:-?}" "$run_server_log")
        run_once "$target" "$conc" B "${peer_argv[@]}"
        b=("$run_log" "$run_status" "${run_rate:--}" "$run_completed" "${run_up:-?}" "$run_server_log")
        if [[ ${a[1]} != 0 && ${a[1]} != 3 ]] || [[ ${b[1]} != 0 && ${b[1]} != 3 ]]; then failed=1; fi
        client_agreement=$(agreement "${a[0]}" "${b[0]}" client)
        server_agreement=-
        if [[ -n ${a[5]} ]]; then
            server_agreement=$(agreement "${a[5]}" "${b[5]}" server | awk -F' [|] ' '{ print $1 " (" $2 ")" }')
        fi
        echo "   client digests: $client_agreement; server digests: $server_agreement" >&2
        rows+=("| $target | $conc | $client_agreement | $server_agreement | ${a[2]} / ${b[2]} | ${a[3]} / ${b[3]} | ${a[4]} / ${b[4]} | ${a[1]} / ${b[1]} |")
    done
done

echo
echo "Replay fidelity: $COUNT CIDs from $START_CID, two runs each against a fresh server (mode $MODE$([[ -n ${CLIENT_ARGS:-} ]] && echo ", client options: $CLIENT_ARGS"))"
echo
echo "| target | concurrency | agreed | share | agreed (fuzzed in either run) | server agreed | conn/s (A / B) | completed (A / B) | server (A / B) | exit (A / B) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
for row in "${rows[@]}"; do echo "$row"; done
if [[ ${#notes[@]} -gt 0 ]]; then
    echo
    printf '%s\n' "${notes[@]}"
fi
echo
echo "(logs in $out)"
exit "$failed"
