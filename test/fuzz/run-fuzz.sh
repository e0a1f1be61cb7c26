#!/bin/sh
# Runs each fuzz target for a while; `make fuzz` calls it.
#
#   sh test/fuzz/run-fuzz.sh FUZZ_BUILD SECONDS NAME...
#
# Each target FUZZ_BUILD/fuzz/fuzz_NAME starts from its seed corpus
# test/fuzz/corpus/NAME and the kept crashes test/fuzz/regress/NAME,
# and writes what it learns to FUZZ_BUILD/corpus/NAME (never into the
# tree) and a crashing input to FUZZ_BUILD/artifacts/NAME/.  A target
# that crashes, leaks, times out or runs out of memory fails the run,
# after every target had its turn.  Ends with "fuzz targets: N ok,
# N failed" (not run-tests.sh's closing line, which stays the count of
# tests in CI's output).
set -u
build=$1
seconds=$2
shift 2
top=$(cd "$(dirname "$0")/../.." && pwd)
passed=0
failed=0
# the targets' databases: under the build folder, where a crashed run
# (libFuzzer skips atexit then) leaves them to `make clean`
TMPDIR=$(mkdir -p "$build/tmp" && cd "$build/tmp" && pwd)
export TMPDIR

# -max_len per target: a request body with a few events, a config file,
# a control request, a message of a few records.
max_len() {
	case "$1" in
	event) echo 16384 ;;
	config) echo 8192 ;;
	ctl) echo 4096 ;;
	msg) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

for name in "$@"; do
	bin="$build/fuzz/fuzz_$name"
	work="$build/corpus/$name"
	art="$build/artifacts/$name"
	log="$build/fuzz_$name.log"
	mkdir -p "$work" "$art"
	set -- -max_total_time="$seconds" -max_len="$(max_len "$name")" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$art/"
	[ -f "$top/test/fuzz/$name.dict" ] &&
		set -- "$@" -dict="$top/test/fuzz/$name.dict"
	seeds=""
	for d in "$top/test/fuzz/corpus/$name" "$top/test/fuzz/regress/$name"; do
		[ -d "$d" ] && seeds="$seeds $d"
	done
	echo "# fuzz_$name for ${seconds}s"
	# shellcheck disable=SC2086 # seeds is a list of folders
	ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$bin" "$@" "$work" $seeds >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	if [ "$rc" -eq 0 ]; then
		echo "ok - fuzz_$name: ${runs:-?} runs, ${speed:-?} exec/s"
		passed=$((passed + 1))
	else
		echo "not ok - fuzz_$name exited with status $rc" \
			"(${runs:-?} runs); crashing input in $art/"
		sed 's/^/## /' "$log" | grep -v '^## #[0-9]' | tail -n 60
		failed=$((failed + 1))
	fi
done
echo "fuzz targets: $passed ok, $failed failed"
[ "$failed" -eq 0 ]
