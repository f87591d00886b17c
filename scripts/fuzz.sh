#!/usr/bin/env bash
# Runs every fuzz target in the module for $FUZZTIME each (default 60s).
# `make test` runs it briefly; `make fuzz` runs it longer.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}
status=0
# "<package dir> <FuzzName>" for every fuzz target.
targets=$(grep -rhoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' --with-filename . |
	sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)#\1 \2#' | sort -u)
while read -r dir name; do
	[ -n "$dir" ] || continue
	echo "fuzz $dir $name ($fuzztime)"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 10s "$dir" >/tmp/weir-fuzz.$$ 2>&1; then
		cat /tmp/weir-fuzz.$$
		status=1
	fi
done <<<"$targets"
rm -f /tmp/weir-fuzz.$$
exit $status
