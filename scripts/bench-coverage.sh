#!/usr/bin/env bash
# Coverage guidance against blind fuzzing: the same AFL++-instrumented target, the same wall time,
# REPS repetitions of each (alternating, so that drift on a shared machine hits both alike).
#
#   scripts/bench-coverage.sh                         # 3 x (blind, guided), 120 s each
#   DURATION=300 REPS=5 scripts/bench-coverage.sh
#
# The target is ngtcp2's h09server with AFL++'s instrumentation and a planted deep fault
# (scripts/interop/install.sh ngtcp2-afl-deep builds it from Debian's source; plant_deep_fault
# there says what it is): a two-step sequence in one connection, a DATA_BLOCKED frame whose limit
# is above 0x3fff and below 0x10000 (a branch of its own, so coverage sees it), then a STREAMS_BLOCKED
# frame, which aborts. Blind is `--coverage afl --no-guidance` (coverage measured, every
# connection blind); guided is `--coverage afl`. Both keep going after a death (the server is
# restarted; triage off), so a run measures its whole DURATION.
#
# Columns: connections and conn/s (the run's `run_end`); the edges covered at a quarter, half and
# the end of the run (its last checkpoint by then, read from the map); the corpus at the end; the
# seconds to the first death by the planted fault ("-": not within DURATION) and how often it
# died of it.
#
# Environment: DURATION (seconds, default 120), REPS (default 3), CONCURRENCY (default 16),
# CHECKPOINT_EVERY (default 500: the corpus's generations), START_CIDS (one per repetition,
# default three fixed CIDs), NO_BUILD=1 (use the built binaries), OUT (directory for the logs,
# default target/bench-coverage). Prints a markdown table; exit status 0, 2 for bad input.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-120}
REPS=${REPS:-3}
CONCURRENCY=${CONCURRENCY:-16}
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-500}
START_CIDS=${START_CIDS:-0123456789abcdef 1f2e3d4c5b6a7988 a5a5a5a5c3c3c3c3}
OUT=${OUT:-${CARGO_TARGET_DIR:-target}/bench-coverage}
[[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || { echo "bench-coverage: DURATION must be whole seconds" >&2; exit 2; }
[[ $REPS =~ ^[0-9]+$ && $REPS -gt 0 ]] || { echo "bench-coverage: REPS must be a positive number" >&2; exit 2; }
read -r -a cids <<<"$START_CIDS"
[[ ${#cids[@]} -ge $REPS ]] || { echo "bench-coverage: START_CIDS has fewer CIDs than REPS ($REPS)" >&2; exit 2; }

if [[ -z ${NO_BUILD:-} ]]; then
    cargo build --release --quiet -p fuzz-client
    bash scripts/interop/install.sh ngtcp2-afl-deep >&2
fi
client=${CARGO_TARGET_DIR:-target}/release/fuzz-client
cmd=$(bash scripts/interop/peer.sh cmd ngtcp2-afl-deep '{port}')
mkdir -p "$OUT"

run() { # run MODE REP: one campaign; its log is $OUT/MODE-REP.jsonl
    local mode=$1 rep=$2 extra=()
    [[ $mode == blind ]] && extra=(--no-guidance)
    local log=$OUT/$mode-$rep.jsonl
    rm -rf "$log" "$log".*
    "$client" --start-cid "${cids[$((rep - 1))]}" --duration "$DURATION" --checkpoint-every "$CHECKPOINT_EVERY" \
        --concurrency "$CONCURRENCY" --coverage afl "${extra[@]}" --no-progress --no-triage --log "$log" \
        --server-cmd "$cmd" '127.0.0.1:{port}' >"$OUT/$mode-$rep.stderr" 2>&1 || true
}

for rep in $(seq 1 "$REPS"); do
    # Alternate which goes first.
    if ((rep % 2)); then order=(blind guided); else order=(guided blind); fi
    for mode in "${order[@]}"; do
        echo "bench-coverage: repetition $rep, $mode (${DURATION} s)" >&2
        run "$mode" "$rep"
    done
done

python3 - "$OUT" "$REPS" "$DURATION" <<'EOF'
import json, sys, datetime
out, reps, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

def read(path):
    start, cps, conns, rate, corpus, deep, deep_at = None, [], 0, 0.0, 0, 0, None
    for line in open(path):
        e = json.loads(line)
        if e.get("role") != "client":
            continue
        ev = e["event"]
        if ev == "run_start" and start is None:
            start = ts(e["ts"])
        elif ev == "checkpoint" and e.get("edges") is not None:
            cps.append((ts(e["ts"]) - start, e["edges"]))
            corpus = e.get("corpus") or corpus
        elif ev == "server_down" and any("planted deep fault" in l for l in e.get("stderr_tail", [])):
            deep += 1
            if deep_at is None:
                deep_at = ts(e["ts"]) - start
        elif ev == "run_end":
            conns, rate = e["connections"], e["conn_per_s"]
    def edges_by(t):
        seen = [edges for at, edges in cps if at <= t]
        return seen[-1] if seen else 0
    return {
        "conns": conns, "rate": rate, "q": edges_by(duration / 4), "h": edges_by(duration / 2),
        "end": cps[-1][1] if cps else 0, "corpus": corpus, "deep": deep, "deep_at": deep_at,
    }

rows = {(m, r): read(f"{out}/{m}-{r}.jsonl") for r in range(1, reps + 1) for m in ("blind", "guided")}
print(f"| rep | mode | connections | conn/s | edges at {duration/4:.0f} s | at {duration/2:.0f} s | at the end "
      "| corpus | deep fault first (s) | deep fault deaths |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (m, r), x in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    first = f"{x['deep_at']:.1f}" if x["deep_at"] is not None else "-"
    corpus = x["corpus"] if m == "guided" else "-"
    print(f"| {r} | {m} | {x['conns']} | {x['rate']:.0f} | {x['q']} | {x['h']} | {x['end']} | {corpus} | {first} | {x['deep']} |")
more = sum(rows[("guided", r)]["end"] > rows[("blind", r)]["end"] for r in range(1, reps + 1))
found = {m: sum(rows[(m, r)]["deep_at"] is not None for r in range(1, reps + 1)) for m in ("blind", "guided")}
print(f"\nguided covered more edges than blind in {more} of {reps} repetitions; the deep fault was reached in "
      f"{found['guided']} of {reps} guided and {found['blind']} of {reps} blind runs of {duration:.0f} s.")
EOF
