#!/usr/bin/env bash
# tools/fuzz.sh: run every `go test -fuzz` target of the module, one after
# another, each for FUZZTIME, and fail if any fails.
#
# Targets are discovered with `go test -list '^Fuzz'`, so a new Fuzz*
# function is picked up without editing this script. A crashing input is
# written by Go to PKG/testdata/fuzz/TARGET/; fix the bug and commit that
# file: it then runs as a regression test in every `go test`.
#
# Environment:
#   FUZZTIME      time per target, a Go duration or Nx (default 60s)
#   FUZZPARALLEL  fuzzing workers per target (default 1: the machines are shared)
#   FUZZ          regexp selecting targets by name (default: all)
#   PKGS          packages to search (default ./...)
#   GO            the go command (default go)
#
# Examples:
#   tools/fuzz.sh
#   FUZZTIME=10m FUZZ=ParseKernel tools/fuzz.sh
#   make fuzz FUZZTIME=5m
set -euo pipefail

FUZZTIME=${FUZZTIME:-60s}
FUZZPARALLEL=${FUZZPARALLEL:-1}
FUZZ=${FUZZ:-.}
PKGS=${PKGS:-./...}
GO=${GO:-go}

cd "$(dirname "$0")/.."

# go test -list prints the matching names, then "ok  PKG ..." for each
# package; pair them up.
if ! listing=$("$GO" test -list '^Fuzz' $PKGS 2>&1); then
	echo "fuzz.sh: go test -list failed; fix the build first:" >&2
	echo "$listing" >&2
	exit 2
fi
targets=()
pending=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) pending+=("$line") ;;
	ok*)
		pkg=$(awk '{print $2}' <<<"$line")
		for name in "${pending[@]}"; do
			if [[ $name =~ $FUZZ ]]; then
				targets+=("$pkg $name")
			fi
		done
		pending=()
		;;
	esac
done <<<"$listing"

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz target matches FUZZ=$FUZZ" >&2
	exit 2
fi

echo "fuzz.sh: ${#targets[@]} targets, $FUZZTIME each, $FUZZPARALLEL worker(s)"
summary=()
failed=0
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "== $pkg $name"
	start=$(date +%s)
	if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel "$FUZZPARALLEL" "$pkg"; then
		result=ok
	else
		result=FAIL
		failed=$((failed + 1))
	fi
	summary+=("$(printf '%-4s %6ss  %-20s %s' "$result" "$(($(date +%s) - start))" "$name" "$pkg")")
done

echo
echo "fuzz.sh summary (result, wall time, target, package):"
printf '  %s\n' "${summary[@]}"
if [ "$failed" -gt 0 ]; then
	echo "fuzz.sh: $failed of ${#targets[@]} targets failed; the crashing inputs are in testdata/fuzz/ of their packages" >&2
	exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets passed"
