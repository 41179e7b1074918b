#!/usr/bin/env bash
# Validates the Kubernetes manifests of deploy/k8s/ (or the YAML files given): against the
# Kubernetes API schemas with kubernetes-validate (PyPI; its schemas ship in the package, so no
# network and no cluster are needed), strict (unknown fields are errors), then for what the
# schemas cannot know: an Indexed Job of fuzz-client shards has --shards equal to its
# completions, a root CID (--start-cid) and its run log on stdout (--log -).
#
# Exit status: 0 valid, 1 invalid, 2 kubernetes-validate missing (pip install kubernetes-validate).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then files=("$@"); else files=(deploy/k8s/*.yaml); fi
if ! command -v kubernetes-validate >/dev/null; then
    echo "k8s-validate.sh: kubernetes-validate is not installed (pip install kubernetes-validate)" >&2
    exit 2
fi
kubernetes-validate --strict --quiet "${files[@]}" || exit 1
# kubernetes-validate depends on PyYAML, so the python3 that runs it can read YAML; find it.
python=$(head -1 "$(command -v kubernetes-validate)" | sed -n 's/^#!//p')
case "$python" in *python*) ;; *) python=python3 ;; esac
exec $python - "${files[@]}" <<'PY'
import re, sys, yaml

bad = []
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") != "Job":
            continue
        spec = doc["spec"]
        name = f"{path}: job/{doc['metadata']['name']}"
        for c in spec["template"]["spec"]["containers"]:
            args = [str(a) for a in c.get("args", [])]
            if "--shards" not in args:
                continue
            opt = lambda o: args[args.index(o) + 1] if o in args[:-1] else None
            if spec.get("completionMode") != "Indexed":
                bad.append(f"{name}: --shards needs completionMode: Indexed (JOB_COMPLETION_INDEX)")
            if str(spec.get("completions")) != opt("--shards"):
                bad.append(f"{name}: completions {spec.get('completions')} but --shards {opt('--shards')}")
            if spec.get("parallelism", 1) > spec.get("completions", 1):
                bad.append(f"{name}: parallelism above completions")
            if not re.fullmatch(r"[0-9a-fA-F]{16}", opt("--start-cid") or ""):
                bad.append(f"{name}: every shard needs the same root, --start-cid with 16 hex digits")
            if opt("--log") != "-":
                bad.append(f"{name}: the run log should go to stdout (--log -) for the log collector")
for b in bad:
    print(f"ERROR {b}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
