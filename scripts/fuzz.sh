#!/bin/sh
# Runs every fuzz target in the module for FUZZTIME each (default 5s): a
# short smoke run for make test. Longer runs: FUZZTIME=10m scripts/fuzz.sh,
# or go test -fuzz for one target. New inputs that fail are written to the
# package's testdata/fuzz/<target>/ by go test; commit them with the fix.
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Packages and targets are found by name, without compiling anything twice.
grep -rl --include='*_test.go' '^func Fuzz' cmd internal | xargs -n1 dirname | sort -u | while read -r dir; do
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //'); do
		echo "fuzz ./$dir $target ($FUZZTIME)"
		"$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -parallel 2 "./$dir" >"$log" 2>&1 || {
			cat "$log"
			exit 1
		}
	done
done
