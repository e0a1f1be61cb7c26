#!/bin/sh
# Runs every test and ends with one line "N passed, N failed".
#
#   sh test/run-tests.sh BUILD_DIR
#
# Unit tests (cmocka) and integration tests (Python, stdlib only) both
# speak TAP: each "ok ..." line is a passed test, each "not ok ..." a
# failed one.  A test program that dies or exits non-zero without saying
# "not ok" counts as one more failure, so a crash is never silent.
# TEST_FILTER=substring runs only the programs whose name contains it;
# several substrings, separated by spaces, run those matching any
# (`make valgrind` selects its integration tests so).
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$top" && cd "$build" && pwd)
out=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-tests.XXXXXX")
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
py=/usr/bin/python3
[ -x "$py" ] || py=python3

selected() { # name: does it contain one of TEST_FILTER's words?
	[ -z "${TEST_FILTER:-}" ] && return 0
	for w in $TEST_FILTER; do
		case "$1" in *"$w"*) return 0 ;; esac
	done
	return 1
}

run_one() { # name, command...
	name=$1
	shift
	selected "$name" || return
	log="$out/$(echo "$name" | tr '/' '_').log"
	echo "# $name"
	"$@" >"$log" 2>&1
	rc=$?
	grep -E '^(not )?ok ' "$log"
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc"
		f=1
	fi
	if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
		echo "## output of $name:"
		sed 's/^/## /' "$log" | tail -n 80
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

for t in "$build"/test/test_*; do
	[ -x "$t" ] || continue
	CMOCKA_MESSAGE_OUTPUT=TAP run_one "unit/$(basename "$t")" "$t"
done
for t in "$top"/test/integration/test_*.py; do
	[ -f "$t" ] || continue
	SENTINEL_BUILD="$build" run_one "integration/$(basename "$t")" \
		"$py" "$t"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
