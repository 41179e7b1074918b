#!/usr/bin/env bash
# The quic-interop-runner endpoint: what the Dockerfile's image runs, following the runner's
# endpoint contract, so that fuzz-client and fuzz-server can be set against the runner's other
# implementations (and in its network simulator).
#
# Environment (set by the runner):
#   ROLE       client or server
#   TESTCASE   the test case; unsupported ones exit 127, as the contract asks
#   REQUESTS   (client) space-separated URLs, e.g. "https://server4:443/file1 https://server4:443/file2";
#              the first one names the server (host and port; the host is also the SNI)
#   SSLKEYLOGFILE  both binaries append every connection's TLS secrets to it (NSS key log)
#   QLOGDIR    both binaries write one qlog file per connection into it (--qlog-dir)
#
# Test cases:
#   server: handshake, transfer, multiplexing, longrtt: /www over hq-interop; http3: over HTTP/3
#           (fuzz-server offers hq-interop and h3 in every case, and serves /N generated too);
#           fuzz: the same, with fuzz-server in fuzz mode: it mutates its own packets to the
#           client, seeded from the connection ID the client chose
#   client: fuzz: a fuzz-client campaign against the server of the first URL (FUZZ_COUNT
#           connections, default 1000, from FUZZ_START_CID, default random; ALPN FUZZ_ALPN,
#           default hq-interop, h3 for HTTP/3); its run log goes to $LOGS_DIR/fuzz-client.jsonl
#           and its exit status is fuzz-client's (0 server up, 3 server down: see the README)
#   Other client test cases (downloads into /downloads) are not implemented: 127.
#
# Paths and settings, overridable for tests (defaults are the contract's):
#   WWW_DIR (/www), DOWNLOADS_DIR (/downloads), CERTS_DIR (/certs: cert.pem, priv.key),
#   LOGS_DIR (/logs), SERVER_LISTEN ([::]:443), FUZZ_BIN_DIR (where fuzz-client and
#   fuzz-server are; default: this script's directory if they are there, else PATH),
#   FUZZ_CLIENT_ARGS (extra fuzz-client options, split on spaces), FUZZ_SERVER_ARGS (the same for
#   fuzz-server).
# In the runner's image, /setup.sh (the network set-up of the simulator's base image) runs first,
# and a client waits for the simulator (/wait-for-it.sh sim:57832); both are skipped where those
# files do not exist.
set -euo pipefail

www=${WWW_DIR:-/www}
downloads=${DOWNLOADS_DIR:-/downloads}
certs=${CERTS_DIR:-/certs}
logs=${LOGS_DIR:-/logs}
here=$(cd "$(dirname "$0")" && pwd)

tool() {
    local dir=${FUZZ_BIN_DIR:-}
    if [[ -z $dir && -x $here/$1 ]]; then dir=$here; fi
    if [[ -n $dir ]]; then echo "$dir/$1"; else command -v "$1" || { echo "run_endpoint.sh: $1 not found" >&2; exit 1; }; fi
}

unsupported() {
    echo "run_endpoint.sh: test case '${TESTCASE:-}' is not supported for role '${ROLE:-}'" >&2
    exit 127
}

[[ -x /setup.sh ]] && /setup.sh
mkdir -p "$logs"
echo "run_endpoint.sh: ROLE=${ROLE:-} TESTCASE=${TESTCASE:-}" >&2

case ${ROLE:-} in
    server)
        case ${TESTCASE:-} in
            handshake | transfer | multiplexing | longrtt | http3) mode=clean ;;
            fuzz) mode=fuzz ;;
            *) unsupported ;;
        esac
        opts=()
        if [[ -f $certs/cert.pem && -f $certs/priv.key ]]; then
            opts=(--cert "$certs/cert.pem" --key "$certs/priv.key")
        fi
        [[ -n ${QLOGDIR:-} ]] && opts+=(--qlog-dir "$QLOGDIR")
        # shellcheck disable=SC2086 # FUZZ_SERVER_ARGS is a list of options
        exec "$(tool fuzz-server)" --listen "${SERVER_LISTEN:-[::]:443}" --mode "$mode" --www "$www" \
            "${opts[@]}" --log "$logs/fuzz-server.jsonl" ${FUZZ_SERVER_ARGS:-}
        ;;
    client)
        [[ ${TESTCASE:-} == fuzz ]] || unsupported
        [[ -x /wait-for-it.sh ]] && /wait-for-it.sh sim:57832 -s -t 30
        first=${REQUESTS%% *}
        authority=${first#*://}
        authority=${authority%%/*}
        if [[ -z ${REQUESTS:-} || $authority == "$first" || -z $authority ]]; then
            echo "run_endpoint.sh: REQUESTS must hold URLs such as https://server:443/file (got '${REQUESTS:-}')" >&2
            exit 2
        fi
        # A port is what follows the last colon, outside an IPv6 literal's brackets.
        [[ $authority =~ :[0-9]+$ ]] || authority=$authority:443
        mkdir -p "$downloads"
        args=(--count "${FUZZ_COUNT:-1000}" --alpn "${FUZZ_ALPN:-hq-interop}" --log "$logs/fuzz-client.jsonl" --no-progress)
        [[ -n ${FUZZ_START_CID:-} ]] && args+=(--start-cid "$FUZZ_START_CID")
        [[ -n ${QLOGDIR:-} ]] && args+=(--qlog-dir "$QLOGDIR")
        # shellcheck disable=SC2086 # FUZZ_CLIENT_ARGS is a list of options
        exec "$(tool fuzz-client)" "${args[@]}" ${FUZZ_CLIENT_ARGS:-} "$authority"
        ;;
    *)
        echo "run_endpoint.sh: ROLE must be client or server (got '${ROLE:-}')" >&2
        exit 127
        ;;
esac
