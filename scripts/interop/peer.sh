#!/usr/bin/env bash
# One entry point for the QUIC servers the fuzzer is pointed at on loopback: our own fuzz-server
# and third-party stacks (installed by scripts/interop/install.sh).
#
#   scripts/interop/peer.sh list                          # the peers, and whether each is ready
#   scripts/interop/peer.sh cmd NAME PORT [OPTION...]     # print the command line that runs it
#   scripts/interop/peer.sh start NAME PORT [OPTION...]   # start it in the background, print the command line
#   scripts/interop/peer.sh stop NAME PORT                # stop what `start` started (SIGTERM, then SIGKILL)
#
# `cmd` is what fuzz-client --server-cmd takes, so that the client starts, watches and restarts
# the server itself (README: "Restart, supervise, bisect, replay"):
#
#   fuzz-client --server-cmd "$(scripts/interop/peer.sh cmd ngtcp2 4433)" 127.0.0.1:4433
#   fuzz-client --server-cmd "$(scripts/interop/peer.sh cmd ngtcp2-asan '{port}')" '127.0.0.1:{port}'
#
# PORT `{port}` stays as it is, for fuzz-client to fill with a free port (the triage of a
# finding runs fresh servers of its own beside the campaign's).
#
# Every peer listens on 127.0.0.1:PORT, serves hq-interop (`GET /N` gets N bytes) and has an
# idle timeout of 5 s, as fuzz-server does; extra OPTIONs go to the server. The third-party
# peers share a self-signed certificate for localhost and a www folder with a file per response
# size the plans ask for (shared/src/plan.rs, RESPONSE_SIZES), both made here on first use.
#
# Environment: INTEROP_DIR (default target/interop: certificate, www, built peers, and for
# `start` the pid and stderr files in run/), START_TIMEOUT (seconds `start` waits for the port to
# be bound, default 20). Exit status: 0 ok; 1 the peer failed to start; 2 bad usage, unknown
# peer, or a peer that is not installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source scripts/lib.sh

interop_dir=$(mkdir -p "${INTEROP_DIR:-target/interop}" && cd "${INTEROP_DIR:-target/interop}" && pwd)
target_dir=$(cd "${CARGO_TARGET_DIR:-target}" 2>/dev/null && pwd || echo "$root/target")

usage() {
    sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# name|what it is
peers_table() {
    cat <<'EOF'
fuzz-server|this project's instrumented s2n-quic server (target/release/fuzz-server; cargo build --release)
ngtcp2|ngtcp2's h09server (hq-interop) built on Debian's libngtcp2 with GnuTLS (install.sh ngtcp2)
ngtcp2-asan|the same h09server, libngtcp2 and all built with AddressSanitizer (install.sh ngtcp2-asan)
ngtcp2-afl|the same h09server, libngtcp2 and all built with AFL++'s instrumentation, for --coverage afl (install.sh ngtcp2-afl)
ngtcp2-afl-deep|ngtcp2-afl with the planted two-step fault of scripts/bench-coverage.sh (install.sh ngtcp2-afl-deep)
ngtcp2-h3|Debian's ngtcp2 gtlsserver: HTTP/3 only (fuzz-client --alpn h3) (install.sh ngtcp2)
aioquic|scripts/interop/aioquic_server.py on aioquic from PyPI: hq-interop and h3 (install.sh aioquic)
EOF
}

# missing NAME: prints why the peer cannot run here (nothing when it can).
missing() {
    case $1 in
        fuzz-server) [[ -x $target_dir/release/fuzz-server ]] || echo "no $target_dir/release/fuzz-server: run cargo build --release" ;;
        ngtcp2) [[ -x $interop_dir/bin/h09gtlsserver ]] || echo "ngtcp2's h09server is not built: run scripts/interop/install.sh ngtcp2" ;;
        ngtcp2-asan) [[ -x $interop_dir/bin/h09gtlsserver-asan ]] ||
            echo "ngtcp2's h09server with AddressSanitizer is not built: run scripts/interop/install.sh ngtcp2-asan" ;;
        ngtcp2-afl) [[ -x $interop_dir/bin/h09gtlsserver-afl ]] ||
            echo "ngtcp2's h09server with AFL++'s instrumentation is not built: run scripts/interop/install.sh ngtcp2-afl" ;;
        ngtcp2-afl-deep) [[ -x $interop_dir/bin/h09gtlsserver-afl-deep ]] ||
            echo "ngtcp2's h09server with the planted deep fault is not built: run scripts/interop/install.sh ngtcp2-afl-deep" ;;
        ngtcp2-h3) command -v gtlsserver >/dev/null || [[ -x /usr/sbin/gtlsserver ]] ||
            echo "gtlsserver is not installed: run scripts/interop/install.sh ngtcp2" ;;
        aioquic) python3 -c 'import aioquic' 2>/dev/null || echo "aioquic is not installed: run scripts/interop/install.sh aioquic" ;;
        *) echo "unknown peer '$1' (known: $(peers_table | cut -d'|' -f1 | tr '\n' ' '))" ;;
    esac
}

# The self-signed certificate (EC P-256, for localhost, 127.0.0.1 and ::1) and the www folder.
# The tests start several peers at once: one prepares under a lock while the others wait, so
# that none serves a key that does not match its certificate or a body half written.
prepare() {
    mkdir -p "$interop_dir"
    local lock
    exec {lock}>"$interop_dir/.prepare.lock"
    flock "$lock"
    if [[ ! -s $interop_dir/cert.pem || ! -s $interop_dir/key.pem ]]; then
        command -v openssl >/dev/null || { echo "peer.sh: openssl is needed for the certificate: run scripts/interop/install.sh" >&2; exit 2; }
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj /CN=localhost \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
            -keyout "$interop_dir/key.pem.tmp" -out "$interop_dir/cert.pem.tmp" 2>/dev/null
        mv "$interop_dir/key.pem.tmp" "$interop_dir/key.pem"
        mv "$interop_dir/cert.pem.tmp" "$interop_dir/cert.pem"
    fi
    local sizes
    sizes=$(sed -n 's/^const RESPONSE_SIZES[^=]*= \[\(.*\)\];/\1/p' shared/src/plan.rs | tr -d '_ ' | tr ',' ' ')
    [[ -n $sizes ]] || { echo "peer.sh: RESPONSE_SIZES not found in shared/src/plan.rs" >&2; exit 1; }
    mkdir -p "$interop_dir/www"
    # Bodies of the a..z pattern of fuzz-server's generated ones.
    # shellcheck disable=SC2086 # one argument per size
    python3 - "$interop_dir/www" $sizes <<'PY'
import pathlib, sys
www = pathlib.Path(sys.argv[1])
for n in map(int, sys.argv[2:]):
    body = (b"abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1))[:n]
    if not (www / str(n)).is_file() or (www / str(n)).read_bytes() != body:
        (www / str(n)).write_bytes(body)
PY
    exec {lock}>&-
}

# command_line NAME PORT [OPTION...]: the shell command line (quoted) that runs the peer.
command_line() {
    local name=$1 port=$2
    shift 2
    local why
    why=$(missing "$name")
    [[ -z $why ]] || { echo "peer.sh: $why" >&2; exit 2; }
    # `{port}`: left for fuzz-client --server-cmd to fill with a free port (a server per triage trial).
    [[ $port == "{port}" || ($port =~ ^[0-9]+$ && $port -gt 0 && $port -lt 65536) ]] ||
        { echo "peer.sh: bad port '$port'" >&2; exit 2; }
    local argv
    case $name in
        fuzz-server) argv=("$target_dir/release/fuzz-server" --listen "127.0.0.1:$port" "$@") ;;
        ngtcp2 | ngtcp2-h3 | ngtcp2-asan | ngtcp2-afl | ngtcp2-afl-deep)
            prepare
            local bin=$interop_dir/bin/h09gtlsserver
            [[ $name == ngtcp2-h3 ]] && bin=$(command -v gtlsserver || echo /usr/sbin/gtlsserver)
            argv=()
            # LeakSanitizer would report every allocation still held when the campaign stops it.
            [[ $name == ngtcp2-asan ]] && argv=(env ASAN_OPTIONS=detect_leaks=0) bin=$bin-asan
            [[ $name == ngtcp2-afl ]] && bin=$bin-afl
            [[ $name == ngtcp2-afl-deep ]] && bin=$bin-afl-deep
            # -q: without it every packet is printed; --timeout: the idle timeout.
            argv+=("$bin" -q --timeout=5s -d "$interop_dir/www" "$@" 127.0.0.1 "$port" "$interop_dir/key.pem" "$interop_dir/cert.pem")
            ;;
        aioquic)
            prepare
            argv=("$(command -v python3)" "$root/scripts/interop/aioquic_server.py" --host 127.0.0.1 --port "$port"
                --certificate "$interop_dir/cert.pem" --private-key "$interop_dir/key.pem" --www "$interop_dir/www"
                --idle-timeout 5 "$@")
            ;;
    esac
    # `{port}` is left unquoted wherever it is (`--listen 127.0.0.1:{port}` too), the rest quoted.
    local out="" a quoted
    for a in "${argv[@]}"; do
        quoted=$(printf '%q' "${a//\{port\}/PORT_PLACEHOLDER}")
        out+="${out:+ }${quoted//PORT_PLACEHOLDER/\{port\}}"
    done
    echo "$out"
}

[[ $# -ge 1 ]] || usage
action=$1
shift
case $action in
    list)
        while IFS='|' read -r name what; do
            why=$(missing "$name")
            printf '%-12s %-8s %s\n' "$name" "$([[ -z $why ]] && echo ready || echo missing)" "$what"
        done < <(peers_table)
        ;;
    cmd)
        [[ $# -ge 2 ]] || usage
        command_line "$@"
        ;;
    start)
        [[ $# -ge 2 ]] || usage
        name=$1 port=$2
        line=$(command_line "$@")
        if udp_port_bound "$port"; then
            echo "peer.sh: UDP port $port is already in use" >&2
            exit 1
        fi
        mkdir -p "$interop_dir/run"
        stderr_file=$interop_dir/run/$name-$port.stderr
        # Its own session, so that a Ctrl-C meant for the caller does not reach it first.
        setsid sh -c "exec $line" </dev/null >/dev/null 2>"$stderr_file" &
        pid=$!
        echo "$pid" >"$interop_dir/run/$name-$port.pid"
        for _ in $(seq $((${START_TIMEOUT:-20} * 20))); do
            if ! kill -0 "$pid" 2>/dev/null; then
                echo "peer.sh: $name exited at start; its stderr:" >&2
                tail -n 20 "$stderr_file" >&2
                rm -f "$interop_dir/run/$name-$port.pid"
                exit 1
            fi
            if udp_port_bound "$port"; then
                echo "$line"
                exit 0
            fi
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
        echo "peer.sh: $name did not bind UDP port $port within ${START_TIMEOUT:-20} s; its stderr:" >&2
        tail -n 20 "$stderr_file" >&2
        exit 1
        ;;
    stop)
        [[ $# -eq 2 ]] || usage
        pidfile=$interop_dir/run/$1-$2.pid
        [[ -f $pidfile ]] || { echo "peer.sh: no $1 started on port $2 (no $pidfile)" >&2; exit 2; }
        pid=$(cat "$pidfile")
        rm -f "$pidfile"
        kill -TERM "$pid" 2>/dev/null || exit 0
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || exit 0
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        ;;
    *) usage ;;
esac
