#!/usr/bin/env python3
"""An aioquic client for fuzz-server: GETs paths over HTTP/3 or hq-interop and checks the answers.

aioquic's own examples/http3_client.py is not installed from PyPI; this is the smallest client on
aioquic's public API (`connect`, `QuicConnectionProtocol`, the `h3` and `h0` modules) that points
a third-party QUIC stack at fuzz-server, which fuzzes its packets to this client from the
connection ID it chose. Each connection GETs every PATH, one stream each, and prints one line:

    conn <i> cid <initial DCID, hex> alpn <protocol> ok <answers>/<paths>

With --expect-sizes, `/N` must get exactly N bytes (and in h3 status 200), as fuzz-server
generates them; otherwise any answer that ends its stream counts. A wrong, reset or missing answer
is printed (`wrong <path>: <why>`).

Exit status: 0 when every answer was right, 1 when one was not (or a connection failed), 2 for bad
options.
"""

import argparse
import asyncio
import sys

from aioquic.asyncio import QuicConnectionProtocol, connect
from aioquic.h0.connection import H0_ALPN, H0Connection
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset


class Answer:
    def __init__(self, path: str) -> None:
        self.path = path
        self.status: int | None = None
        self.body = 0
        self.ended = False
        self.reset: int | None = None
        self.done = asyncio.Event()


class ClientProtocol(QuicConnectionProtocol):
    """One connection: the HTTP layer of its ALPN, and the answers of its requests by stream."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        alpn = self._quic.configuration.alpn_protocols[0]
        self.http = H3Connection(self._quic) if alpn in H3_ALPN else H0Connection(self._quic)
        self.answers: dict[int, Answer] = {}

    def get(self, authority: str, path: str) -> Answer:
        stream_id = self._quic.get_next_available_stream_id()
        answer = self.answers[stream_id] = Answer(path)
        headers = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", authority.encode()), (b":path", path.encode())]
        self.http.send_headers(stream_id, headers, end_stream=True)
        self.transmit()
        return answer

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, StreamReset) and event.stream_id in self.answers:
            answer = self.answers[event.stream_id]
            answer.reset = event.error_code
            answer.done.set()
        if isinstance(event, ConnectionTerminated):
            for answer in self.answers.values():
                answer.done.set()
        for http_event in self.http.handle_event(event):
            answer = self.answers.get(getattr(http_event, "stream_id", -1))
            if answer is None:
                continue
            if isinstance(http_event, HeadersReceived):
                status = dict(http_event.headers).get(b":status")
                answer.status = int(status) if status and status.isdigit() else None
            elif isinstance(http_event, DataReceived):
                answer.body += len(http_event.data)
            if getattr(http_event, "stream_ended", False):
                answer.ended = True
                answer.done.set()


def wrong(answer: Answer, h3: bool, expect_sizes: bool) -> str | None:
    """Why an answer is not what was asked, or None (fuzz-client's rules, quic/answer.rs)."""
    if answer.reset is not None:
        return f"stream reset (code {answer.reset})"
    if not answer.ended:
        return "no answer (the stream did not end)"
    if h3 and answer.status is None:
        return "no response status"
    digits = answer.path[1:]
    if expect_sizes:
        if h3 and answer.status != 200:
            return f"status {answer.status}, expected 200"
        if digits.isdigit() and digits.isascii() and answer.body != int(digits):
            return f"{answer.body} bytes, expected {digits}"
    return None


async def one_connection(i: int, args, configuration: QuicConfiguration) -> bool:
    h3 = configuration.alpn_protocols[0] in H3_ALPN
    async with connect(args.host, args.port, configuration=configuration, create_protocol=ClientProtocol) as client:
        # The DCID this client chose for its first Initial (aioquic keeps it in a private field).
        cid = client._quic._original_destination_connection_id.hex()
        answers = [client.get(args.server_name, path) for path in args.paths]
        try:
            await asyncio.wait_for(asyncio.gather(*(a.done.wait() for a in answers)), args.timeout)
        except asyncio.TimeoutError:
            pass
        faults = [(a.path, wrong(a, h3, args.expect_sizes)) for a in answers]
        right = sum(1 for _, why in faults if why is None)
        print(f"conn {i} cid {cid} alpn {configuration.alpn_protocols[0]} ok {right}/{len(answers)}", flush=True)
        for path, why in faults:
            if why is not None:
                print(f"wrong {path}: {why}", flush=True)
        client.close(error_code=0x100 if h3 else 0)
        return right == len(answers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host", help="server address")
    parser.add_argument("port", type=int, help="server UDP port")
    parser.add_argument("paths", nargs="+", help="paths to GET, e.g. /1000")
    parser.add_argument("--alpn", default="h3", choices=H3_ALPN[:1] + H0_ALPN[:1], help="protocol (default h3)")
    parser.add_argument("--server-name", default="localhost", help="SNI and :authority (default localhost)")
    parser.add_argument("--ca", help="trust this PEM certificate; without it the certificate is not verified")
    parser.add_argument("--connections", type=int, default=1, help="connections, one after the other (default 1)")
    parser.add_argument("--expect-sizes", action="store_true", help="/N must get exactly N bytes")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answers (default 5)")
    args = parser.parse_args()
    if any(not p.startswith("/") for p in args.paths):
        parser.error("paths start with /")

    configuration = QuicConfiguration(is_client=True, alpn_protocols=[args.alpn], server_name=args.server_name)
    if args.ca:
        configuration.load_verify_locations(args.ca)
    else:
        import ssl

        configuration.verify_mode = ssl.CERT_NONE

    async def run() -> bool:
        ok = True
        for i in range(args.connections):
            try:
                ok &= await one_connection(i, args, configuration)
            except (ConnectionError, OSError, asyncio.TimeoutError) as e:
                print(f"conn {i} failed: {e!r}", flush=True)
                ok = False
        return ok

    return 0 if asyncio.run(run()) else 1


if __name__ == "__main__":
    sys.exit(main())
