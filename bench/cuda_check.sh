#!/usr/bin/env bash
# The CUDA proof, in one command on a bare GPU machine: no network, no install, no ../shared.
#
#   python bench/cuda_prepare.py --data ../shared/data/20news-bydate.tar.gz --out .cuda-kit --cpu-baseline
#   bash bench/cuda_check.sh .cuda-kit "$OUT"            # on the GPU machine (about 6 minutes)
#   bash bench/cuda_check.sh KIT OUT --dry               # the same steps on the CPU, 2 epochs (CI)
#
# Steps: pytest -m cuda; the default `fastnews train --device cuda` with each epoch's seconds
# and docs/s; the same with --compile; bench/train.py (the seed loop beside fastnews on the
# same device); a 1-process NCCL run through --nproc 1; export of the CUDA-trained run with
# its parity on CPU onnxruntime; its test accuracy against the CPU recipe's (cpu_metrics.json
# in the kit). OUT gets cuda_check.json and steps.log (2 files, a few hundred KB); the runs
# themselves stay in a temporary folder.
set -uo pipefail
kit=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
mode=${3:-cuda}
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
work=$(mktemp -d)
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"   # fastnews from the checkout: nothing to install
export FASTNEWS_HOME="$work/home"                      # caches, not the user's
device=cuda epochs=8
if [ "$mode" = "--dry" ]; then device=cpu epochs=2; fi
data=(--data "$kit/corpus.tar.gz" --glove "$kit/glove")
: > "$out/steps.log"
: > "$work/steps.tsv"

step() {  # step NAME COMMAND...: run it, log its output, note its exit status and seconds
    local name=$1 t0=$EPOCHREALTIME rc
    shift
    echo "=== $name: $*" >> "$out/steps.log"
    "$@" >> "$out/steps.log" 2>&1
    rc=$?
    printf '%s\t%s\t%s\n' "$name" "$rc" "$(awk "BEGIN {print $EPOCHREALTIME - $t0}")" >> "$work/steps.tsv"
}

cd "$repo"
step pytest_cuda "$py" -m pytest -m cuda -q -p no:cacheprovider tests/test_cuda.py
step train "$py" -m fastnews train "${data[@]}" --device "$device" --epochs "$epochs" --out "$work/train" --quiet
step train_compile "$py" -m fastnews train "${data[@]}" --device "$device" --epochs "$epochs" --compile \
    --out "$work/compile" --quiet
step bench_train "$py" bench/train.py "${data[@]}" --device "$device" --epochs "$epochs"
step nccl_nproc1 "$py" -m fastnews train "${data[@]}" --device "$device" --epochs 1 --nproc 1 --out "$work/ddp" --quiet
step export "$py" -m fastnews export "$work/train" --output "$work/model.onnx"

"$py" - "$work" "$kit" "$out" "$mode" <<'PY'
import json, sys
from pathlib import Path
work, kit, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
steps = {}
for line in (work / "steps.tsv").read_text().splitlines():
    name, rc, seconds = line.split("\t")
    steps[name] = {"exit": int(rc), "seconds": round(float(seconds), 1)}
def metrics(run):
    path = work / run / "metrics.json"
    if not path.exists():
        return None
    m = json.loads(path.read_text())
    return {k: m[k] for k in ("device", "torch", "test_accuracy", "test_macro_f1", "epochs_run", "best_epoch",
                              "train_seconds", "processes")} | {
        "epochs": [{"epoch": h["epoch"], "seconds": round(h["seconds"], 3), "docs_per_s": round(h["docs_per_s"])}
                   for h in m["history"]]}
log = (out / "steps.log").read_text()
bench = [json.loads(l) for l in log.splitlines() if l.startswith('{"bench": "train"')]
report = {"mode": mode, "steps": steps, "train": metrics("train"), "train_compile": metrics("compile"),
          "nccl_nproc1": metrics("ddp"), "bench_train": bench[-1] if bench else None}
cpu = kit / "cpu_metrics.json"
if cpu.exists() and report["train"]:
    cpu_acc = json.loads(cpu.read_text())["test_accuracy"]
    report["cpu_test_accuracy"] = cpu_acc
    report["accuracy_gap_points"] = round(100 * (report["train"]["test_accuracy"] - cpu_acc), 2)
parity = [l for l in log.splitlines() if l.startswith("parity vs PyTorch")]
report["export_parity"] = parity[-1] if parity else None
report["epoch_seconds_after_the_first"] = [e["seconds"] for e in (report["train"] or {"epochs": []})["epochs"][1:]]
report["ok"] = all(s["exit"] == 0 for s in steps.values())
(out / "cuda_check.json").write_text(json.dumps(report, indent=1))
print(json.dumps({"ok": report["ok"], "steps": {k: v["exit"] for k, v in steps.items()}}))
sys.exit(0 if report["ok"] else 1)
PY
