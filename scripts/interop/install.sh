#!/usr/bin/env bash
# Installs the third-party QUIC peers that scripts/interop/peer.sh starts, and what they need;
# idempotent and non-interactive (CI runs it as root on a fresh Debian machine).
#
#   scripts/interop/install.sh [PEER...]     # default: every peer (ngtcp2 ngtcp2-asan ngtcp2-afl aioquic)
#
# Peers:
# - ngtcp2: Debian's ngtcp2 example client (ngtcp2-client: `gtlsclient`, HTTP/3, which
#   tests/tests/h3.rs points at fuzz-server) and servers. The package ngtcp2-server ships only `gtlsserver`,
#   which speaks HTTP/3 (peer ngtcp2-h3); its hq-interop twin, `h09server`, is built upstream
#   for OpenSSL/quictls only, which Debian lacks. So this builds h09server from Debian's own
#   source package of the installed libngtcp2, against Debian's libngtcp2 and GnuTLS, into
#   $INTEROP_DIR/bin/h09gtlsserver (about 15 s on two cores). One change to the source: the
#   GnuTLS server session of that version offers the ALPN "h3" whatever the application (its
#   code says "TODO Set all available ALPN based on app_proto"); the build offers "hq-interop".
# - ngtcp2-asan: the same h09server with the whole of libngtcp2 and its GnuTLS crypto helper
#   compiled from the same source with AddressSanitizer (gcc -fsanitize=address, -O1 -g) and
#   linked in statically, into $INTEROP_DIR/bin/h09gtlsserver-asan (about 40 s on two cores):
#   a real third-party server whose memory faults and internal assertions (`ngtcp2_unreachable`,
#   `assert`) abort it with a report that the findings' signatures read.
# - ngtcp2-afl: the same static build with AFL++'s instrumentation (Debian's afl++ and clang:
#   afl-clang-fast, LLVM PCGUARD edges, -O1 -g), into $INTEROP_DIR/bin/h09gtlsserver-afl, for
#   fuzz-client --coverage afl. libngtcp2, its crypto helper and the example server are
#   instrumented; GnuTLS is Debian's shared library, so the map covers the QUIC stack, not TLS.
# - ngtcp2-afl-deep: ngtcp2-afl with a planted two-step fault (plant_deep_fault below), into
#   $INTEROP_DIR/bin/h09gtlsserver-afl-deep: the target of scripts/bench-coverage.sh. Not among
#   the defaults.
# - aioquic: the Python package from PyPI (pinned: AIOQUIC_VERSION, default 1.7.2), served by
#   scripts/interop/aioquic_server.py.
# Both use a self-signed certificate that peer.sh makes with openssl (installed here).
#
# Environment: INTEROP_DIR (default target/interop), AIOQUIC_VERSION.
# Exit status: 0 when every peer asked for is ready, 1 when an install step failed (its message
# says which), 2 for an unknown peer name.
set -euo pipefail
cd "$(dirname "$0")/../.."

interop_dir=${INTEROP_DIR:-target/interop}
aioquic_version=${AIOQUIC_VERSION:-1.7.2}
peers=("$@")
[[ ${#peers[@]} -gt 0 ]] || peers=(ngtcp2 ngtcp2-asan ngtcp2-afl aioquic)

fail() {
    echo "install.sh: $*" >&2
    exit 1
}

as_root() {
    if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_update() {
    [[ -n $apt_updated ]] && return 0
    as_root apt-get update -q >/dev/null || fail "apt-get update failed"
    apt_updated=1
}

# apt_install PACKAGE...: installs the Debian packages that are not installed yet.
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null || fail "apt-get not found: install ${missing[*]} by hand (a Debian machine is assumed)"
    apt_update
    echo "install.sh: apt-get install ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
        fail "apt-get install ${missing[*]} failed"
}

# Adds deb-src entries mirroring the machine's own Debian entries for its release, unless some
# exist already, so that `apt-get source` works. Reads the configured archives; names none.
enable_deb_src() {
    local codename list=/etc/apt/sources.list.d/quic-cid-fuzz-deb-src.sources
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [[ -n $codename ]] || fail "cannot tell the Debian release (VERSION_CODENAME in /etc/os-release)"
    if grep -rqsE "^(deb-src |Types:.*deb-src)" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 0
    fi
    {
        # deb822 files: each paragraph with a suite of the release (bookworm, bookworm-security, ...).
        for f in /etc/apt/sources.list.d/*.sources; do
            [[ -e $f ]] || continue
            awk -v rel="$codename" 'BEGIN { RS = ""; FS = "\n" }
                {
                    keep = 0; out = ""
                    for (i = 1; i <= NF; i++) {
                        if ($i ~ /^#/) continue
                        if ($i ~ /^Suites:/ && (" " $i) ~ (" " rel "([ -]|$)")) keep = 1
                        if ($i ~ /^Types:/) out = out "Types: deb-src\n"; else out = out $i "\n"
                    }
                    if (keep) printf "%s\n", out
                }' "$f"
        done
    } | as_root tee "$list" >/dev/null
    # One-line format (/etc/apt/sources.list): `deb URI RELEASE COMPONENTS` lines become deb-src.
    if [[ -f /etc/apt/sources.list ]]; then
        grep -E "^deb [^ ]+ ${codename}[- ]" /etc/apt/sources.list | sed 's/^deb /deb-src /' |
            as_root tee /etc/apt/sources.list.d/quic-cid-fuzz-deb-src.list >/dev/null || true
    fi
    [[ -s $list || -s /etc/apt/sources.list.d/quic-cid-fuzz-deb-src.list ]] ||
        fail "found no Debian archive for '$codename' in the apt sources to take the ngtcp2 source from"
    apt_updated=
    apt_update
}

install_ngtcp2() {
    local bin=$interop_dir/bin/h09gtlsserver version stamp
    apt_install ngtcp2-server ngtcp2-client libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev libev-dev \
        libgnutls28-dev g++ pkg-config dpkg-dev openssl
    version=$(dpkg-query -W -f='${Version}' libngtcp2-dev)
    stamp=$interop_dir/bin/h09gtlsserver.version
    if [[ -x $bin && $(cat "$stamp" 2>/dev/null) == "$version" ]]; then
        echo "install.sh: ngtcp2 h09gtlsserver $version is built ($bin)" >&2
        return 0
    fi
    local src=$interop_dir/src
    mkdir -p "$interop_dir/bin"
    echo "install.sh: building ngtcp2's h09server (hq-interop) $version from Debian's source" >&2
    ngtcp2_source "$version"
    local ex
    ex=$(echo "$src"/ngtcp2-*/examples)
    [[ -f $ex/h09server.cc ]] || fail "no examples/h09server.cc in Debian's ngtcp2 source"
    sed 's/H3_ALPN_V1/HQ_ALPN_V1/g' "$ex/tls_server_session_gnutls.cc" >"$ex/tls_server_session_gnutls_hq.cc"
    grep -q HQ_ALPN_V1 "$ex/tls_server_session_gnutls_hq.cc" || fail "the ALPN change no longer applies"
    local deps="libngtcp2 libngtcp2_crypto_gnutls libnghttp3 gnutls libev"
    pkg-config --exists libev 2>/dev/null || deps=${deps% libev}
    (
        cd "$ex"
        cc -O2 -I../third-party -c ../third-party/http-parser/http_parser.c -o http_parser.o
        # shellcheck disable=SC2046,SC2086 # pkg-config prints several flags
        g++ -std=c++20 -O2 -DENABLE_EXAMPLE_GNUTLS -DWITH_EXAMPLE_GNUTLS -DHAVE_ARPA_INET_H -DHAVE_NETINET_IN_H \
            -DHAVE_SYS_SOCKET_H -DHAVE_ASM_TYPES_H -DHAVE_LINUX_NETLINK_H -DHAVE_LINUX_RTNETLINK_H \
            -I. -I../third-party $(pkg-config --cflags $deps) \
            h09server.cc server_base.cc debug.cc util.cc shared.cc http.cc tls_server_context_gnutls.cc \
            tls_server_session_gnutls_hq.cc tls_session_base_gnutls.cc util_gnutls.cc http_parser.o \
            -o h09gtlsserver $(pkg-config --libs $deps) -lev
    ) >"$src/build.log" 2>&1 || fail "building h09server failed: $(grep -m3 error "$src/build.log")"
    install -m 755 "$ex/h09gtlsserver" "$bin"
    echo "$version" >"$stamp"
    echo "install.sh: built $bin" >&2
}

# The source of the installed libngtcp2, unpacked under $INTEROP_DIR/src (shared by the builds).
ngtcp2_source() {
    local version=$1 src=$interop_dir/src
    if [[ $(cat "$src/version" 2>/dev/null) == "$version" ]] && compgen -G "$src/ngtcp2-*/examples" >/dev/null; then
        return 0
    fi
    enable_deb_src
    rm -rf "$src"
    mkdir -p "$src"
    (cd "$src" && apt-get source -q "ngtcp2=$version" >apt-source.log 2>&1) ||
        fail "apt-get source ngtcp2=$version failed: $(tail -3 "$src/apt-source.log")"
    echo "$version" >"$src/version"
}

# build_ngtcp2_static NAME DESCRIPTION CC CXX FLAGS [PATCH]: libngtcp2 and its GnuTLS crypto
# helper compiled from Debian's source of the installed version, with FLAGS, and linked
# statically into h09server, installed as $INTEROP_DIR/bin/h09gtlsserver-NAME. PATCH, when
# given, is a function run on a copy of the library's sources (the other builds keep theirs).
build_ngtcp2_static() {
    local name=$1 what=$2 cc=$3 cxx=$4 flags=$5 patch=${6:-}
    install_ngtcp2
    local bin=$interop_dir/bin/h09gtlsserver-$name version stamp built
    version=$(dpkg-query -W -f='${Version}' libngtcp2-dev)
    stamp=$bin.version
    # What the binary is built from: the version, and the patch's own text when there is one.
    built=$version
    [[ -z $patch ]] || built+=" $(declare -f "$patch" | sha256sum | cut -c1-16)"
    if [[ -x $bin && $(cat "$stamp" 2>/dev/null) == "$built" ]]; then
        echo "install.sh: ngtcp2 h09gtlsserver-$name $version is built ($bin)" >&2
        return 0
    fi
    ngtcp2_source "$version"
    local top upstream
    top=$(echo "$interop_dir"/src/ngtcp2-*)
    upstream=${version%%+*}
    upstream=${upstream%%-*}
    echo "install.sh: building libngtcp2 $version and h09server $what" >&2
    (
        set -e
        cd "$top"
        # What configure would write: the version header, and the platform's headers as macros.
        local num
        num=$(echo "$upstream" | awk -F. '{ printf "0x%02x%02x%02x", $1, $2, $3 }')
        sed "s/@PACKAGE_VERSION@/$upstream/; s/@PACKAGE_VERSION_NUM@/$num/" lib/includes/ngtcp2/version.h.in \
            >lib/includes/ngtcp2/version.h
        flags+=" -DNGTCP2_STATICLIB"
        local have="-DHAVE_ARPA_INET_H -DHAVE_NETINET_IN_H -DHAVE_UNISTD_H -DHAVE_ENDIAN_H -DHAVE_BYTESWAP_H"
        have+=" -DHAVE_BSWAP_64 -DHAVE_BE64TOH"
        rm -rf "$name-obj"
        mkdir "$name-obj"
        local c lib=lib
        if [[ -n $patch ]]; then
            lib=$name-lib
            rm -rf "$lib"
            cp -r lib "$lib"
            "$patch" "$lib"
        fi
        for c in "$lib"/*.c crypto/shared.c crypto/gnutls/gnutls.c; do
            # shellcheck disable=SC2086 # flags
            $cc $flags $have -I"$lib" -I"$lib/includes" -Icrypto -Icrypto/includes -c "$c" -o "$name-obj/$(basename "$c" .c).o"
        done
        cc -O1 -Ithird-party -c third-party/http-parser/http_parser.c -o "$name-obj/http_parser.o"
        cd examples
        sed 's/H3_ALPN_V1/HQ_ALPN_V1/g' tls_server_session_gnutls.cc >tls_server_session_gnutls_hq.cc
        # shellcheck disable=SC2046,SC2086 # pkg-config prints several flags
        $cxx -std=c++20 $flags -DENABLE_EXAMPLE_GNUTLS -DWITH_EXAMPLE_GNUTLS -DHAVE_ARPA_INET_H -DHAVE_NETINET_IN_H \
            -DHAVE_SYS_SOCKET_H -DHAVE_ASM_TYPES_H -DHAVE_LINUX_NETLINK_H -DHAVE_LINUX_RTNETLINK_H \
            -I. -I../third-party -I../lib/includes -I../crypto/includes $(pkg-config --cflags gnutls libnghttp3) \
            h09server.cc server_base.cc debug.cc util.cc shared.cc http.cc tls_server_context_gnutls.cc \
            tls_server_session_gnutls_hq.cc tls_session_base_gnutls.cc util_gnutls.cc ../"$name"-obj/*.o \
            -o "h09gtlsserver-$name" $(pkg-config --libs gnutls libnghttp3) -lev
    ) >"$interop_dir/src/$name-build.log" 2>&1 ||
        fail "building ngtcp2 $what failed: $(grep -m3 error "$interop_dir/src/$name-build.log")"
    install -m 755 "$top/examples/h09gtlsserver-$name" "$bin"
    echo "$built" >"$stamp"
    echo "install.sh: built $bin" >&2
}

install_ngtcp2_asan() {
    build_ngtcp2_static asan "with AddressSanitizer" gcc g++ "-O1 -g -fsanitize=address -fno-omit-frame-pointer"
}

install_ngtcp2_afl() {
    apt_install afl++ clang
    command -v afl-clang-fast >/dev/null || fail "afl-clang-fast not found after installing afl++"
    # AFL_QUIET: afl-cc's banner on every file; the map size is the binary's own (PCGUARD).
    AFL_QUIET=1 build_ngtcp2_static afl "with AFL++'s instrumentation" afl-clang-fast afl-clang-fast++ "-O1 -g"
}

# The planted deep fault of scripts/bench-coverage.sh, a two-step sequence in one connection:
# step 1, a DATA_BLOCKED frame (RFC 9000 §19.12) whose limit is above 0x3fff and below 0x10000
# (about one fuzzed connection in 2,000 sends one) marks the connection, a branch of its own, so
# coverage sees it; step 2, a STREAMS_BLOCKED frame (§19.14) after it, aborts. A blind fuzzer
# must draw both in one connection; a guided one keeps the connection that took the first step
# and mutates it further. Built with NDEBUG: 0.12.1's `assert(conn->negotiated_version)`, which
# fuzzing reaches every few hundred connections, would otherwise restart the server all through
# the benchmark and measure restarts rather than guidance.
plant_deep_fault() {
    local lib=$1
    perl -0pi -e 's/^struct ngtcp2_conn \{\n/struct ngtcp2_conn {\n  int planted_deep_step;\n/m' "$lib/ngtcp2_conn.h"
    perl -0pi -e 's|(case NGTCP2_FRAME_DATA_BLOCKED:\n\s*/\* TODO Not implemented yet \*/\n)|$1      if (fr->data_blocked.offset > 0x3fff \&\& fr->data_blocked.offset < 0x10000) {\n        conn->planted_deep_step = 1;\n      }\n|' "$lib/ngtcp2_conn.c"
    perl -0pi -e 's|(\n(\s*)rv = conn_recv_streams_blocked_(bidi\|uni)\(conn, &fr->streams_blocked\);)|\n$2if (conn->planted_deep_step) {\n$2  fprintf(stderr, "planted deep fault: STREAMS_BLOCKED after a marked DATA_BLOCKED\\n");\n$2  abort();\n$2}$1|g' "$lib/ngtcp2_conn.c"
    perl -0pi -e 's|^(#include "ngtcp2_conn.h"\n)|$1#include <stdio.h>\n#include <stdlib.h>\n|m' "$lib/ngtcp2_conn.c"
    [[ $(grep -c planted_deep_step "$lib/ngtcp2_conn.c") == 3 ]] || { echo "plant_deep_fault: the patch did not apply" >&2; return 1; }
}

install_ngtcp2_afl_deep() {
    apt_install afl++ clang
    command -v afl-clang-fast >/dev/null || fail "afl-clang-fast not found after installing afl++"
    AFL_QUIET=1 build_ngtcp2_static afl-deep "with AFL++'s instrumentation and the planted deep fault" \
        afl-clang-fast afl-clang-fast++ "-O1 -g -DNDEBUG" plant_deep_fault
}

install_aioquic() {
    apt_install openssl
    command -v python3 >/dev/null || fail "python3 not found (aioquic needs Python 3.8 or later)"
    if python3 -c "import aioquic, sys; sys.exit(aioquic.__version__ != '$aioquic_version')" 2>/dev/null; then
        echo "install.sh: aioquic $aioquic_version is installed" >&2
        return 0
    fi
    if ! python3 -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip
    fi
    echo "install.sh: pip install aioquic==$aioquic_version" >&2
    # Debian's own python3 refuses system-wide pip installs (PEP 668) unless told otherwise.
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check "aioquic==$aioquic_version" 2>/dev/null ||
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --break-system-packages "aioquic==$aioquic_version" ||
        fail "pip install aioquic==$aioquic_version failed"
    python3 -c "import aioquic" || fail "aioquic does not import after installing it"
}

for peer in "${peers[@]}"; do
    case $peer in
        ngtcp2 | ngtcp2-h3) install_ngtcp2 ;;
        ngtcp2-asan) install_ngtcp2_asan ;;
        ngtcp2-afl) install_ngtcp2_afl ;;
        ngtcp2-afl-deep) install_ngtcp2_afl_deep ;;
        aioquic) install_aioquic ;;
        fuzz-server) ;; # built by cargo
        *)
            echo "install.sh: unknown peer '$peer' (known: ngtcp2 ngtcp2-asan ngtcp2-afl ngtcp2-afl-deep aioquic)" >&2
            exit 2
            ;;
    esac
done
