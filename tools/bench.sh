#!/usr/bin/env bash
# tools/bench.sh: `make bench`. Measures gonest against a reference in the
# same run, side by side, and prints one table of ratios:
#
#   port-I/O exit cost     gonest's run loop vs a C loop on raw ioctls, this host's /dev/kvm
#   lab G1 boot            gonest vs QEMU microvm as H's VMM, start to G1's init marker
#   G2 launch              G1 init to G2's verdict, gonest vs QEMU microvm as G1's VMM
#   virtio-blk read        sequential O_DIRECT reads in G1, gonest's virtio-blk vs QEMU's
#   VMM overhead           gonest's RSS minus resident guest RAM while it runs G1
#   exit multiplication    lab scenario anatomy: each exit loop as G2 and as H's own guest,
#                          who handled each exit and what it cost every level (a table of
#                          its own: no reference VMM, so no ratio goal)
#
# and a second table, the disk bus in G2 (l2-disk): IDE against virtio-blk,
# G2's read rate and the exits per MiB at G1 and H, medians of BENCH_RUNS
# reads of each bus (at least 5). `tools/bench.sh disk` (make bench-disk)
# measures that table alone and replaces its section of bench/results.md,
# keeping the rest.
#
# Every figure is a median over interleaved runs, with the min and max of
# the per-run ratios: the machines are shared and noisy, so only ratios
# measured side by side mean anything. The table and the raw rows go to
# bench/results.md with the date and a description of the machine.
#
# `tools/bench.sh anatomy` (make bench-anatomy) runs the exit
# multiplication alone and replaces only its section of bench/results.md.
#
# A third table, gonest exec against QEMU microvm sharing H's root over
# 9p as lmb/vimto and virtme-ng do (scenario bench-exec): /bin/true's wall
# time, find+stat over a tree and a sequential read, virtio-fs against 9p.
# `tools/bench.sh exec` (make bench-exec) measures it alone and replaces
# only its section; at other sizes than the defaults it has a section of
# its own, which make bench keeps for the user's full sizes.
#
# Environment: BENCH_RUNS (lab runs per VMM, default 7), ANATOMY_RUNS
# (runs of each exit loop at each level, default 5), EXEC_BENCH_RUNS
# (bench-exec's pairs, default 3: each pair is four boots), EXEC_BENCH_FILES
# (its tree, default 2000 files), EXEC_BENCH_MIB (its read, default 64),
# PORTIO_EXITS (default 140000), BENCH_OUT (default bench/results.md), GO.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
RUNS=${BENCH_RUNS:-7}
ANATOMY_RUNS=${ANATOMY_RUNS:-5}
EXEC_RUNS=${EXEC_BENCH_RUNS:-3}
EXEC_FILES=${EXEC_BENCH_FILES:-2000}
EXEC_MIB=${EXEC_BENCH_MIB:-64}
EXITS=${PORTIO_EXITS:-140000}
OUT=${BENCH_OUT:-bench/results.md}
IMAGES=${IMAGES:-images/out}
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
MODE=${1:-all}
[[ $MODE == all || $MODE == disk || $MODE == anatomy || $MODE == exec ]] || { echo "usage: tools/bench.sh [disk|anatomy|exec]" >&2; exit 2; }

say() { echo "bench: $*" >&2; }

# machine describes this host and the lab, for a results header.
machine() {
	echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r), /dev/kvm backend $(ls -d /sys/module/kvm_{intel,amd,pvm} 2>/dev/null | xargs -r -n1 basename | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
	echo "Lab: $(qemu-system-x86_64 --version | head -1) (TCG, -cpu EPYC,+svm); guest kernel $(awk 'NR==1{print $2}' "$IMAGES/kernel.stamp" 2>/dev/null); $(go version | cut -d' ' -f3)."
}

anatomy_heading="## Exit multiplication (lab, nested SVM)"

# anatomy runs scenario anatomy in the lab; its rows go to $rows, and H's
# console log stays in $IMAGES/anatomy.log for anatomy_section.
anatomy() {
	say "exit multiplication in the lab ($ANATOMY_RUNS runs of each loop at each level)"
	$GO run ./lab/cmd/gonest-bench -images "$IMAGES" -scenario anatomy -append "gonest.anatomy.runs=$ANATOMY_RUNS" >>"$rows" \
		|| { echo "bench: anatomy failed; its log is $IMAGES/anatomy.log" >&2; exit 1; }
}

# anatomy_section prints the exit-multiplication section: the rows ("exit
# anatomy | pio | ...", scenario/anatomyreport.go) as a markdown table,
# then H's account of each workload from the lab's log (who handled G2's
# exits, G1's own exits by reason, L0's counters) and the live readings
# of G1's nested state.
anatomy_section() {
	echo "$anatomy_heading"
	echo
	echo "Measured by \`$1\` on $(date -u '+%Y-%m-%d %H:%M UTC'); lab: $(qemu-system-x86_64 --version | head -1) (TCG, -cpu EPYC,+svm), guest kernel $(awk 'NR==1{print $2}' "$IMAGES/kernel.stamp" 2>/dev/null); host load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
	echo
	echo "Scenario anatomy (docs/nested.md, \"The anatomy of one exit\", explains it): each exit loop run as G2 inside G1 and as H's own guest (a guest of L0 like G1, in its place), medians of $ANATOMY_RUNS runs per workload and level. L0 is H's KVM. \"handled by L0\", \"reflected\" and \"synthesized\" count exits over the whole loop; \"G1 exits per exit given\" are G1's own exits at L0 for each exit L0 passed into G1; ns are H's clock, under QEMU's software SVM, so only the ratio (G2 against the same loop as H's guest, side by side) means anything."
	echo
	echo "| workload | iterations | runs | G2 exits/iter | handled by L0 | reflected | synthesized | G1 exits per exit given | ns/iter in G2 | ns/iter as H's guest | ratio |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	grep '^exit anatomy | ' "$rows" | sed 's/^exit anatomy | /| /; s/$/ |/'
	echo
	echo "H's account of each workload (each count the median over the runs):"
	echo
	awk '/^\[H\] == exit multiplication/ { table = 1 } table && /^\[H\] -- / { on = 1 } on { sub(/^\[H\] ?/, "    "); print } on && /live nested state/ { exit }' "$IMAGES/anatomy.log"
	echo
	echo "Raw rows:"
	echo
	grep '^exit anatomy | ' "$rows" | sed 's/^/    /'
}

# labBench SCENARIO [RUNS [PARAMS]] appends the rows of one lab benchmark.
labBench() {
	local runs=${2:-$RUNS}
	say "$1 in the lab ($runs runs per VMM)"
	$GO run ./lab/cmd/gonest-bench -images "$IMAGES" -scenario "$1" -append "gonest.bench.runs=$runs${3:+ $3}" >>"$rows" \
		|| { echo "bench: $1 failed; its log is $IMAGES/$1.log" >&2; exit 1; }
}

# sectionHead HEADING TARGET [MORE] starts a section that TARGET measures
# alone: the heading, when and by what (make bench in the all mode), MORE
# after the date, and the machine.
sectionHead() {
	local target=bench
	[[ $MODE == all ]] || target=$2
	echo "$1"
	echo
	echo "Measured by \`make $target\` on $(date -u '+%Y-%m-%d %H:%M UTC')${3:-}."
	echo
	machine
	echo
}

# execHeading FILES MIB is the heading of bench-exec's section at those
# sizes: the defaults' section and one at any other sizes (the user's
# 10,000 files and 256 MiB, one pair) live side by side, and each run
# replaces only its own.
execHeading() {
	local h="## gonest exec against QEMU microvm with 9p (lab)"
	[[ $1 == 2000 && $2 == 64 ]] || h+=", $1 files, $2 MiB"
	echo "$h"
}
exec_heading=$(execHeading "$EXEC_FILES" "$EXEC_MIB")
exec_full_heading=$(execHeading 10000 256)

# execSection is gonest exec's section of bench/results.md, from the rows
# ("exec ...: gonest M (min A, max B), QEMU M (...), ratio R (...)",
# scenario/bench/exec.go) and H's log of the run ($IMAGES/bench-exec.log).
execSection() {
	sectionHead "$exec_heading" bench-exec ", $EXEC_RUNS pairs"
	grep -h '^\[H\] init: bench-exec setup: ' "$IMAGES/bench-exec.log" | sed 's/^\[H\] init: bench-exec setup: //' || true
	echo
	if ((EXEC_FILES < 10000 || EXEC_MIB < 256)); then
		echo "The tree and the read are smaller than a user's (10,000 files, 256 MiB) so that three pairs stay within half an hour of the lab at any load of this shared machine: QEMU's 9p server runs on H's emulated CPU, one round trip per request, and a calibration run on 2026-12-07 at load average 8 walked 2,021 entries in 170 s (12 a second) and read 64 MiB in 44 s (1.5 MB/s), which at the full sizes is about 17 minutes for each QEMU run. \`EXEC_BENCH_RUNS=1 EXEC_BENCH_FILES=10000 EXEC_BENCH_MIB=256 make bench-exec\` measures the full sizes, into a section of their own."
		echo
	fi
	echo "Ratios are gonest / QEMU, runs alternating in the same H; lower is better for the times, higher for the file system figures. The two rows after the wall time split it at the guest init's first marker, each VMM timed from just before its exec."
	echo
	table exec
	echo
	echo "Raw rows:"
	echo
	grep '^exec ' "$rows" | sed 's/^/    /'
}

# diskSection is the disk-bus section of bench/results.md, from the rows.
diskSection() {
	sectionHead "## Disk bus in G2" bench-disk
	echo "The l2-disk experiment (docs/nested.md): G2 reads the same MiB through gonest's IDE and virtio-blk, alternating, each read windowed at G1 and H. Lower is better except for MB/s."
	echo
	diskTable
	echo
	echo "Raw rows:"
	echo
	grep '^disk bus in G2, ' "$rows" | sed 's/^/    /'
}

# table turns each row into "| what | ratio | min-max | goal | met |":
# the exec rows with "table exec", the others without.
table() {
	local want=${1:-}
	echo "| benchmark | ratio (median) | per-run min – max | goal | met |"
	echo "|---|---|---|---|---|"
	while IFS= read -r row; do
		what=${row%%:*}
		case $what in "disk bus in G2"* | "exit anatomy"*) continue ;; esac # their own tables
		kind=other
		[[ $what == exec* ]] && kind=exec
		[[ $kind == "${want:-other}" ]] || continue
		ratio=$(grep -oP 'ratio \K[0-9.]+' <<<"$row" | head -1 || true)
		runs=$(grep -oP '(per run|per-run ratios) \K[0-9. ]+' <<<"$row" | head -1 || true)
		if [[ -z $runs ]]; then
			runs="$(grep -oP 'min \K[0-9.]+(?=, max)' <<<"$row" | tail -1 || true) $(grep -oP 'max \K[0-9.]+' <<<"$row" | tail -1 || true)"
		fi
		lo=$(tr ' ' '\n' <<<"$runs" | grep . | sort -g | head -1)
		hi=$(tr ' ' '\n' <<<"$runs" | grep . | sort -g | tail -1)
		case $what in
		port-I/O*) goal="≤ 1.15"; ok=$(awk -v r="$ratio" 'BEGIN{print (r <= 1.15) ? "yes" : "no"}') ;;
		"lab G1 boot"*) goal="≤ 0.8"; ok=$(awk -v r="$ratio" 'BEGIN{print (r <= 0.8) ? "yes" : "no"}') ;;
		"G2 launch"*) goal="≤ 1.0"; ok=$(awk -v r="$ratio" 'BEGIN{print (r <= 1.0) ? "yes" : "no"}') ;;
		virtio-blk*) goal="≥ 1.0"; ok=$(awk -v r="$ratio" 'BEGIN{print (r >= 1.0) ? "yes" : "no"}') ;;
		"exec /bin/true, wall"*) goal="≤ 0.6"; ok=$(awk -v r="$ratio" 'BEGIN{print (r <= 0.6) ? "yes" : "no"}') ;;
		"exec /bin/true, "*) goal="none (a part of the wall time)"; ok="—" ;;
		"exec metadata"* | "exec data"*) goal="≥ 2.0"; ok=$(awk -v r="$ratio" 'BEGIN{print (r >= 2.0) ? "yes" : "no"}') ;;
		"VMM overhead"*)
			ratio="$(grep -oP 'gonest \K[0-9.]+' <<<"$row") MiB"
			goal="≤ 5 MiB"
			ok=$(awk -v r="${ratio% MiB}" 'BEGIN{print (r <= 5) ? "yes" : "no"}')
			lo="$lo MiB" hi="$hi MiB" ;;
		*) continue ;;
		esac
		echo "| $what | $ratio | $lo – $hi | $goal | $ok |"
	done <"$rows"
}

# diskTable turns each "disk bus in G2, FIGURE: IDE M (min A, max B),
# virtio-blk M (min A, max B), ratio R (...; per run ...)" row into a line.
diskTable() {
	echo "| figure (per read of G2) | IDE, median (min – max) | virtio-blk, median (min – max) | IDE / virtio-blk | per-run ratio min – max |"
	echo "|---|---|---|---|---|"
	local row what ide vd ratio runs lo hi
	while IFS= read -r row; do
		[[ $row == "disk bus in G2, "* ]] || continue
		row=${row#disk bus in G2, }
		what=${row%%: IDE *}
		ide=$(grep -oP ': IDE \K[^,]+, max [^)]+\)' <<<"$row" | sed 's/(min \(.*\), max \(.*\))/(\1 – \2)/')
		vd=$(grep -oP 'virtio-blk \K[^,]+, max [^)]+\)' <<<"$row" | sed 's/(min \(.*\), max \(.*\))/(\1 – \2)/')
		ratio=$(grep -oP 'ratio \K[0-9.e+-]+' <<<"$row" | head -1)
		runs=$(grep -oP 'per run \K[0-9.e+ -]+' <<<"$row" | head -1)
		lo=$(tr ' ' '\n' <<<"$runs" | grep . | sort -g | head -1)
		hi=$(tr ' ' '\n' <<<"$runs" | grep . | sort -g | tail -1)
		echo "| $what | $ide | $vd | $ratio | $lo – $hi |"
	done <"$rows"
}

# withoutSection HEADING prints bench/results.md without the section that
# HEADING starts (up to the next "## " heading), its trailing blank lines
# dropped and one added, so that a section can be measured again alone.
withoutSection() {
	[[ -f $OUT ]] || return 0
	awk -v h="$1" '$0 == h { skip = 1; next } skip && /^## / { skip = 0 } !skip { l[++n] = $0 }
		END { while (n > 0 && l[n] == "") n--; for (i = 1; i <= n; i++) print l[i]; if (n) print "" }' "$OUT"
}

# sectionOf HEADING prints the section of bench/results.md that HEADING
# starts, up to the next "## " heading: a section that make bench does not
# measure (make test's timings) and keeps as it is.
sectionOf() {
	[[ -f $OUT ]] || return 0
	awk -v h="$1" '$0 == h { on = 1; print; next } on && /^## / { on = 0 } on { print }' "$OUT"
}
kept_heading="## make test"
# The Intel lab's exit multiplication comes from make test-intel's
# TestIntelLabAnatomy, not from make bench, which keeps it as it is.
intel_anatomy_heading="## Exit multiplication (Intel lab, nested VMX)"

if [[ $MODE != all ]]; then
	mkdir -p "$(dirname "$OUT")"
	if [[ $MODE == disk ]]; then
		labBench bench-disk
		{ withoutSection "## Disk bus in G2"; diskSection; } >"$OUT.new"
	elif [[ $MODE == exec ]]; then
		labBench bench-exec "$EXEC_RUNS" "gonest.bench.files=$EXEC_FILES gonest.bench.mib=$EXEC_MIB"
		{ withoutSection "$exec_heading"; execSection; } >"$OUT.new"
	else
		anatomy
		{ withoutSection "$anatomy_heading"; anatomy_section "make bench-anatomy"; } >"$OUT.new"
	fi
	mv -f "$OUT.new" "$OUT"
	cat "$OUT"
	exit 0
fi

# The port-I/O benchmark reports go/c (the median of interleaved rounds),
# go/c-min and go/c-max as custom metrics.
say "port-I/O exit cost: gonest vs C on this host's /dev/kvm ($EXITS exits)"
portio=$(CGO_ENABLED=1 $GO test -run '^$' -bench 'BenchmarkPortIOExit$' -benchtime "${EXITS}x" ./vcpu | grep '^BenchmarkPortIOExit' || true)
if [[ -z $portio ]]; then
	echo "bench: the port-I/O benchmark printed nothing; run: go test -run '^\$' -bench PortIOExit ./vcpu" >&2
	exit 1
fi
metric() { awk -v m="$1" '{for (i = 2; i < NF; i++) if ($(i+1) == m) print $i}' <<<"$portio"; }
echo "port-I/O exit cost (this host, ${EXITS} exits): gonest $(metric ns/op) ns/exit, C $(metric c-ns/exit) ns/exit, ratio $(metric go/c) (median of 7 interleaved rounds; min $(metric go/c-min), max $(metric go/c-max))" >>"$rows"

for scenario in bench-boot bench-nested bench-blk bench-disk; do
	labBench "$scenario"
done
labBench bench-exec "$EXEC_RUNS" "gonest.bench.files=$EXEC_FILES gonest.bench.mib=$EXEC_MIB"
anatomy

mkdir -p "$(dirname "$OUT")"
kept=$(sectionOf "$kept_heading")
intel=$(sectionOf "$intel_anatomy_heading")
full=""
[[ $exec_heading == "$exec_full_heading" ]] || full=$(sectionOf "$exec_full_heading")
{
	echo "# gonest benchmarks"
	echo
	echo "Measured by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
	echo
	machine
	echo
	echo "Lower is better except for virtio-blk read throughput. Ratios are gonest / reference, measured side by side in one run."
	echo
	table
	echo
	echo "Raw rows:"
	echo
	grep -v -e '^disk bus in G2, ' -e '^exit anatomy | ' -e '^exec ' "$rows" | sed 's/^/    /'
	echo
	diskSection
	echo
	execSection
	if [[ -n $full ]]; then
		echo
		echo "$full"
	fi
	echo
	anatomy_section "make bench"
	if [[ -n $intel ]]; then
		echo
		echo "$intel"
	fi
	if [[ -n $kept ]]; then
		echo
		echo "$kept"
	fi
} >"$OUT.new"
# Written aside and moved, so a failure on the way leaves the old file.
mv -f "$OUT.new" "$OUT"
cat "$OUT"
