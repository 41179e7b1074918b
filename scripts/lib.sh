# shellcheck shell=bash
# Shared by the scripts (sourced, not run): starting a fuzz-server and measuring processes.

# start_fuzz_server LOG STDERR [fuzz-server options...]
# Starts the release fuzz-server on a free loopback port (--listen 127.0.0.1:0) with its run log
# at LOG and its stderr in STDERR, and waits until its run_start line names the bound address.
# Sets server_pid and server_addr; exits the script with status 1 if the server does not start.
start_fuzz_server() {
    local log=$1 err=$2
    shift 2
    rm -f "$log"
    "${CARGO_TARGET_DIR:-target}/release/fuzz-server" --listen 127.0.0.1:0 --log "$log" "$@" 2>"$err" &
    server_pid=$!
    server_addr=""
    for _ in $(seq 200); do
        server_addr=$(grep -m1 -o '"event":"run_start"[^}]*"target":"[^"]*"' "$log" 2>/dev/null |
            sed 's/.*"target":"\([^"]*\)"/\1/' || true)
        [[ -n $server_addr ]] && return 0
        kill -0 "$server_pid" 2>/dev/null || { echo "fuzz-server did not start:" >&2; cat "$err" >&2; exit 1; }
        sleep 0.05
    done
    echo "fuzz-server did not report its address within 10 s" >&2
    exit 1
}

# rss_kb PID: the process's resident memory in KiB (VmRSS), 0 once it is gone.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# free_udp_port: prints a loopback UDP port that was free a moment ago (the kernel's pick for
# 127.0.0.1:0, as tests/src/lib.rs does), for a server that must be told its port up front.
free_udp_port() {
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# udp_port_bound PORT: whether some socket of this machine is bound to UDP port PORT (IPv4 or
# IPv6), read from /proc/net/udp{,6}: the local address column ends in the port in hex.
udp_port_bound() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
        /proc/net/udp /proc/net/udp6 2>/dev/null
}

# cpu_ticks PID: the process's user + system time so far, in clock ticks (proc(5): fields 14 and
# 15 of /proc/PID/stat, counted after the parenthesised command name, which may hold spaces).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
