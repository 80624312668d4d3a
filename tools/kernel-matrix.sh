#!/usr/bin/env bash
# tools/kernel-matrix.sh: `make test-kernels`. The lab on every kernel of
# the matrix: for each kernel (a Debian version and flavour) it builds that
# kernel's images side by side with the others (images/out-<version>-<flavour>,
# sharing the .deb cache and the kernel-independent builds of images/out),
# then runs each lab's scenarios there, one at a time, and prints one
# table: kernel, flavour, lab, scenario, verdict, wall time.
#
# A lab is two things in this file: a function lab_<name> that runs one
# scenario against an image set and exits with the lab's status, and a
# list <name>_scenarios of "scenario|expected status|timeout|kernel
# parameters". Adding a lab is adding both and naming it in LABS.
#
# Environment:
#   KERNELS     version:flavour pairs (default "6.1:default 6.1:cloud 6.12:default 6.12:cloud")
#   LABS        labs to run on each kernel (default "amd intel"; the Intel
#               lab's l2-tiny takes about 7 minutes of Bochs per kernel)
#   MATRIX_OUT  logs and the table (default images/out/matrix)
#   IMAGES_DIR  where the image sets go: IMAGES_DIR/out-<version>-<flavour>,
#               sharing IMAGES_DIR/out/build and tools (default images)
#   SCENARIOS   regexp: run only the scenarios it matches (default: all)
#   GO, MAKE    the go and make commands
#
# Exit status: 0 when every row passed, 1 otherwise; a failing row's log
# tail is printed after the table.
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
MAKE=${MAKE:-make}
KERNELS=${KERNELS:-"6.1:default 6.1:cloud 6.12:default 6.12:cloud"}
LABS=${LABS:-amd intel}
IMAGES_DIR=${IMAGES_DIR:-images}
OUT=${MATRIX_OUT:-$IMAGES_DIR/out/matrix}
SCENARIOS=${SCENARIOS:-.}

say() { echo "test-kernels: $*" >&2; }

# The AMD lab: QEMU TCG with SVM, through gonest-lab, whose exit status is
# the scenario's verdict (0 pass, N the verdict code, 125 no verdict).
# l2-tiny passes when the tiny G2's exit code (gonest.code) comes back
# through G1 and H.
amd_scenarios=(
	"kvmtests|0|6m|gonest.timeout=5m"
	"linux|0|10m|gonest.timeout=9m"
	"l2-tiny|37|6m|gonest.code=37 gonest.timeout=5m"
)
lab_amd() { # IMAGES SCENARIO TIMEOUT PARAMS
	"$OUT/gonest-lab" -images "$1" -scenario "$2" -timeout "$3" -append "$4"
}

# The Intel lab: Bochs with a VMX CPU, through gonest-lab -vendor intel,
# whose exit status is H's verdict message's code. Its images add
# h-next.cpio (make intel-images), and Bochs comes from make intel-tools.
intel_scenarios=(
	"l2-tiny|37|15m|gonest.code=37 gonest.timeout=12m"
)
lab_intel() { # IMAGES SCENARIO TIMEOUT PARAMS
	"$OUT/gonest-lab" -vendor intel -images "$1" -scenario "$2" -timeout "$3" -append "$4"
}

# The image targets each lab needs.
targets=images
[[ " $LABS " == *" intel "* ]] && targets="images intel-images"

mkdir -p "$OUT"
rows=$OUT/rows
: >"$rows"
say "building gonest-lab"
$GO build -o "$OUT/gonest-lab" ./lab/cmd/gonest-lab || { say "go build ./lab/cmd/gonest-lab failed"; exit 1; }

# row KERNEL FLAVOUR LAB SCENARIO VERDICT SECONDS LOG
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$rows"; }

# verdict_of LOG STATUS EXPECTED: "pass", or what went wrong, from
# gonest-lab's last line ("scenario S: verdict V in Xs" or an error).
verdict_of() {
	local last
	last=$(grep -E '^gonest-lab: ' "$1" | tail -n1)
	if [[ $2 == "$3" ]]; then
		if [[ $3 == 0 ]]; then echo pass; else echo "pass (code $3)"; fi
		return
	fi
	case $last in
	*": verdict "*) last=${last#*: verdict }; echo "FAIL: verdict ${last% in *}" ;;
	*timeout*) echo "FAIL: no verdict (timeout)" ;;
	"") echo "FAIL: status $2" ;;
	*) echo "FAIL: no verdict" ;;
	esac
}

start_all=$SECONDS
for kernel in $KERNELS; do
	version=${kernel%%:*} flavour=${kernel#*:}
	images=$IMAGES_DIR/out-$version-$flavour
	log=$OUT/$version-$flavour-images.log
	say "$version $flavour: make $targets IMG_OUT=$images"
	t0=$SECONDS
	# shellcheck disable=SC2086 # targets is a list
	$MAKE --no-print-directory $targets IMG_OUT="$images" IMG_BUILD="$IMAGES_DIR/out/build" IMG_TOOLS="$IMAGES_DIR/out/tools" \
		KERNEL_VERSION="$version" KERNEL_FLAVOUR="$flavour" >"$log" 2>&1
	status=$?
	release=$(cat "$images/kernel.release" 2>/dev/null || echo "$version")
	if ((status != 0)); then
		row "$release" "$flavour" - images "FAIL: $(grep '^images: ' "$log" | tail -n1)" $((SECONDS - t0)) "$log"
		continue
	fi
	row "$release" "$flavour" - images built $((SECONDS - t0)) "$log"
	for lab in $LABS; do
		declare -n specs=${lab}_scenarios
		for spec in "${specs[@]}"; do
			IFS='|' read -r scenario want timeout params <<<"$spec"
			[[ $scenario =~ $SCENARIOS ]] || continue
			log=$OUT/$version-$flavour-$lab-$scenario.log
			say "$release $lab: $scenario"
			t0=$SECONDS
			"lab_$lab" "$images" "$scenario" "$timeout" "$params" >"$log" 2>&1
			status=$?
			row "$release" "$flavour" "$lab" "$scenario" "$(verdict_of "$log" "$status" "$want")" $((SECONDS - t0)) "$log"
		done
		unset -n specs
	done
done
total=$((SECONDS - start_all))

# The table, then the tail of each failing row's log.
{
	printf '%-28s %-8s %-5s %-9s %-34s %6s\n' kernel flavour lab scenario verdict wall
	while IFS=$'\t' read -r k f l s v secs _; do
		printf '%-28s %-8s %-5s %-9s %-34s %5ss\n' "$k" "$f" "$l" "$s" "$v" "$secs"
	done <"$rows"
	printf '%-28s %-8s %-5s %-9s %-34s %5ss\n' total '' '' '' '' "$total"
} | tee "$OUT/table.txt"
failed=0
while IFS=$'\t' read -r k f l s v _ log; do
	[[ $v == FAIL* ]] || continue
	failed=1
	echo
	echo "== $k $f $l $s: $v; last lines of $log:"
	tail -n 30 "$log"
done <"$rows"
exit $failed
