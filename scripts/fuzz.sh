#!/bin/sh
# Runs every fuzz target in the module for FUZZTIME each (default 5s): a
# short smoke run for make test. Longer runs: FUZZTIME=10m scripts/fuzz.sh,
# or go test -fuzz for one target. New inputs that fail are written to the
# package's testdata/fuzz/<target>/ by go test; commit them with the fix.
#
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
# when -fuzztime runs out while a worker is busy (golang/go#75804, fixed in
# Go 1.27): a failure with no failing input. Such a run, and only such a
# run (that message and no new file in testdata/fuzz/<target>/), is run
# once more; a second failure of any kind fails the script.
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

corpus() { ls "$1/testdata/fuzz/$2" 2>/dev/null || true; }

fuzz() {
	"$GO" test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" -parallel 2 "./$1" >"$log" 2>&1
}

# Packages and targets are found by name, without compiling anything twice.
grep -rl --include='*_test.go' '^func Fuzz' cmd internal | xargs -n1 dirname | sort -u | while read -r dir; do
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //'); do
		echo "fuzz ./$dir $target ($FUZZTIME)"
		before=$(corpus "$dir" "$target")
		fuzz "$dir" "$target" && continue
		if grep -q '^    context deadline exceeded$' "$log" && [ "$(corpus "$dir" "$target")" = "$before" ]; then
			echo "  the fuzz coordinator's deadline race (golang/go#75804), no failing input; once more"
			fuzz "$dir" "$target" && continue
		fi
		cat "$log"
		exit 1
	done
done
