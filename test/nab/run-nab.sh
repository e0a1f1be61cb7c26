#!/bin/sh
# run-nab.sh: detection quality on the Numenta Anomaly Benchmark (`make nab`).
#
# Replays every NAB data file given in $NAB_DIR (default ../shared/nab
# beside the repository) through `sentinel-cli replay` with the shipped
# tuning-free detectors (etc/detectors-auto.yaml), one file at a time, as
# an operator would replay last week's data, keeps the FIRING records of
# the latency detector (data.latency_ms carries the NAB value), and
# scores them with NAB's scorer: standard, reward_low_FP_rate and
# reward_low_FN_rate.  docs/detection-quality.md explains the numbers.
#
#   sh test/nab/run-nab.sh            (make nab runs this)
#
# Environment:
#   BUILD            build folder holding sentinel-cli (default build)
#   NAB_DIR          the NAB folder: upstream/data, nab_to_events.py,
#                    nabscore.py (default <repo>/../shared/nab)
#   NAB_DETECTORS    detectors file (default etc/detectors-auto.yaml)
#   NAB_DETECTOR_ID  detector whose firings are scored (auto-latency)
#   NAB_KEEP         keep the events, anomalies and logs in this folder
#
# One conversion detail: ingestd rejects a negative latency, and one NAB
# file (art_daily_flatmiddle) dips below zero, so a file whose minimum is
# negative is shifted up by that much (nab_to_events.py --shift).  The
# auto strategy is shift-invariant, so this changes no decision.
#
# Exit status: 0 when scored, 1 when a step failed.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
case $build in
/*) ;;
*) build=$top/$build ;;
esac
cli=$build/sentinel-cli
nab=${NAB_DIR:-$top/../shared/nab}
detectors=${NAB_DETECTORS:-$top/etc/detectors-auto.yaml}
detector_id=${NAB_DETECTOR_ID:-auto-latency}
data=$nab/upstream/data

fail() {
	echo "run-nab.sh: $*" >&2
	exit 1
}

[ -x "$cli" ] || fail "$cli not found: build it first (make nab does)"
[ -d "$data" ] || fail "no NAB data in $data (set NAB_DIR)"
[ -f "$detectors" ] || fail "no detectors file $detectors"
command -v python3 >/dev/null || fail "python3 is needed for the scorer"

if [ -n "${NAB_KEEP:-}" ]; then
	work=$NAB_KEEP
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-nab.XXXXXX")
	trap 'rm -rf "$work"' EXIT INT TERM
fi
firing=$work/firing.ndjson
: >"$work/replay.log"

# Convert every file, then again with a shift those that dip below 0.
python3 "$nab/nab_to_events.py" --data "$data" --out "$work/events" ||
	fail "converting $data failed"
python3 -c '
import csv, math, os, sys
for root, _, names in os.walk(sys.argv[1]):
    for n in sorted(names):
        if not n.endswith(".csv"):
            continue
        path = os.path.join(root, n)
        with open(path, newline="") as f:
            low = min(float(r["value"]) for r in csv.DictReader(f))
        if low < 0:
            print(os.path.relpath(path, sys.argv[1]), math.ceil(-low))
' "$data" >"$work/shifts"
while read -r rel shift; do
	python3 "$nab/nab_to_events.py" --data "$data" --shift "$shift" \
		"$rel" >"$work/events/$(basename "$rel" .csv).ndjson" ||
		fail "$rel: conversion failed"
done <"$work/shifts"

# Replay one file at a time: each NAB file is its own application.
n=0
for events in "$work"/events/*.ndjson; do
	name=$(basename "$events" .ndjson)
	"$cli" replay --detectors "$detectors" --input "$events" \
		--output "$work/$name.anomalies.ndjson" \
		2>"$work/$name.replay.log" ||
		fail "$name: replay failed (see $work/$name.replay.log)"
	tail -n 1 "$work/$name.replay.log" >>"$work/replay.log"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no .csv files under $data"

# Keep the detector's FIRING records (a RESOLVED one is no detection).
python3 -c '
import glob, json, os, sys
want = sys.argv[2]
with open(sys.argv[3], "w") as out:
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.anomalies.ndjson"))):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                a = json.loads(line)
                det = a.get("detector_id", a.get("detector"))
                if a.get("status") == "firing" and det == want:
                    out.write(line + "\n")
' "$work" "$detector_id" "$firing"

rejected=$(sed -n 's/.*(\([0-9][0-9]*\) lines rejected).*/\1/p' \
	"$work/replay.log" | awk '{s += $1} END {print s + 0}')
echo "replayed $n NAB files through $(basename "$detectors")" \
	"($rejected event lines rejected); $(wc -l <"$firing")" \
	"firings of $detector_id scored"
echo

python3 "$nab/nabscore.py" --data "$data" --stream "$firing" \
	--key-field application_id --ts-field timestamp
python3 "$nab/nabscore.py" --data "$data" --stream "$firing" \
	--key-field application_id --ts-field timestamp --json |
	python3 -c '
import json, sys
p = json.load(sys.stdin)["profiles"]
print()
print("NAB score (%s): standard %.1f  low FP %.1f  low FN %.1f" % (
    sys.argv[1], p["standard"]["score"], p["reward_low_FP_rate"]["score"],
    p["reward_low_FN_rate"]["score"]))' "$detector_id"
