#!/usr/bin/env python3
"""Agreement of two runs' mutation decisions: the share of CIDs whose `mutation_digest` is equal.

    scripts/digest-agreement.py LOG_A LOG_B [--role client|server] [--differ] [--json]

Reads the `cid_end` lines of two run logs of the same campaign (the same --start-cid) and
compares each CID's `mutation_digest` (README: "What replays"). Prints, for example:

    agreed 491/500 = 98.2% (fuzzed in either run: 231/240 = 96.2%; only in A: 0, only in B: 0)

- A CID counts when both logs ended it; CIDs that only one log ended (a run cut short by a
  crash) are counted apart, as `only in A/B`.
- A server may have several connections for one client CID (the client retrying): their digests
  are compared as a sorted list.
- "fuzzed in either run": the CIDs whose `fuzzed_packets` is not 0 in at least one run, that is
  without the connections that mutated nothing in both (their digest is the empty one either way).
- `--differ` lists the CIDs that differ, with both runs' digests and outcomes; `--json` prints
  the figures as one JSON object instead (keys: agreed, compared, share, fuzzed_agreed,
  fuzzed_compared, only_a, only_b).

Exit status: 0, or 2 for an unreadable log, a malformed line, or logs with no CID in common.
Standard library only.
"""

import argparse
import json
import sys
from dataclasses import dataclass, field


@dataclass
class Ends:
    """One CID's `cid_end` lines in one log."""

    digests: list = field(default_factory=list)
    outcomes: list = field(default_factory=list)
    fuzzed: bool = False


def read_ends(path: str, role: str) -> dict:
    """CID -> Ends for every `cid_end` of `role` in the run log at `path`."""
    ends: dict = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            # A process killed mid-write may leave a torn last line; anything else is corrupt.
            if number == len(lines):
                continue
            raise ValueError(f"{path}:{number}: not JSON: {e}") from None
        if event.get("event") != "cid_end" or event.get("role") != role:
            continue
        end = ends.setdefault(event["cid"], Ends())
        end.digests.append(event["mutation_digest"])
        end.outcomes.append(event["outcome"])
        end.fuzzed |= event.get("fuzzed_packets", 0) > 0
    return ends


def share(agreed: int, compared: int) -> float:
    return 100.0 * agreed / compared if compared else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log_a")
    parser.add_argument("log_b")
    parser.add_argument("--role", choices=["client", "server"], default="client", help="whose digests (default client)")
    parser.add_argument("--differ", action="store_true", help="list the CIDs whose digests differ")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    try:
        a = read_ends(args.log_a, args.role)
        b = read_ends(args.log_b, args.role)
    except (OSError, ValueError, KeyError) as e:
        print(f"digest-agreement: {e}", file=sys.stderr)
        return 2
    common = [cid for cid in a if cid in b]
    if not common:
        print(
            f"digest-agreement: no {args.role} CID ended in both logs ({len(a)} in A, {len(b)} in B)", file=sys.stderr
        )
        return 2
    same = {cid for cid in common if sorted(a[cid].digests) == sorted(b[cid].digests)}
    fuzzed = [cid for cid in common if a[cid].fuzzed or b[cid].fuzzed]
    figures = {
        "agreed": len(same),
        "compared": len(common),
        "share": round(share(len(same), len(common)), 2),
        "fuzzed_agreed": sum(1 for cid in fuzzed if cid in same),
        "fuzzed_compared": len(fuzzed),
        "only_a": len(a) - len(common),
        "only_b": sum(1 for cid in b if cid not in a),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        f = figures
        print(
            f"agreed {f['agreed']}/{f['compared']} = {share(f['agreed'], f['compared']):.1f}% "
            f"(fuzzed in either run: {f['fuzzed_agreed']}/{f['fuzzed_compared']} = "
            f"{share(f['fuzzed_agreed'], f['fuzzed_compared']):.1f}%; only in A: {f['only_a']}, only in B: {f['only_b']})"
        )
    if args.differ:
        for cid in common:
            if cid not in same:
                print(
                    f"  differs: {cid} A {','.join(a[cid].digests)} {','.join(a[cid].outcomes)}"
                    f" | B {','.join(b[cid].digests)} {','.join(b[cid].outcomes)}",
                    file=sys.stderr if args.json else sys.stdout,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
