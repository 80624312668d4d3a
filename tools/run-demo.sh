#!/usr/bin/env bash
# make run: the nested demo, after `make build images`.
#
# gonest doctor decides where it runs:
#  - this host's KVM can nest (doctor exits 0): gonest boots G1 right here;
#  - it cannot (doctor exits 1, e.g. kvm_pvm): one line says why, and the
#    same demo runs one level down, in the lab: QEMU (TCG, -cpu EPYC,+svm)
#    boots H, and H's gonest boots G1 (scenario demo).
# With a terminal, G1 gives you a shell: type `l2` to boot G2 inside G1
# with the same gonest binary, `exit` to leave. Without one (CI, a pipe),
# G1 runs `l2` itself, G2 says hello and reports, G1 powers off, and the
# exit status is 0 when every level passed.
#
# Environment: IMG_OUT (images/out), GONEST (bin/gonest), GO (go),
# RUN_MINUTES (15, the non-interactive bound).
set -uo pipefail

img=${IMG_OUT:-images/out}
gonest=${GONEST:-bin/gonest}
go=${GO:-go}
minutes=${RUN_MINUTES:-15}
interactive=0
[[ -t 0 && -t 1 ]] && interactive=1

report=$("$gonest" doctor 2>&1)
status=$?
verdict=$(head -n1 <<<"$report")
verdict=${verdict#verdict: }
verdict=${verdict%%; run the nested demo in the lab*} # this script is that advice

if ((status == 0)); then
	echo "make run: gonest doctor: $verdict; booting G1 with gonest on this host"
	args=(run -kernel "$img/vmlinuz" -initrd "$img/g1.cpio.gz" -m 1G)
	# G2's images travel on G1's next-level disk when the pipeline builds one.
	[[ -f $img/g1-next.ext4 ]] && args+=(-disk "$img/g1-next.ext4,ro")
	if ((interactive)); then
		echo "make run: in G1's shell type \`l2\` to boot G2 inside G1; \`exit\` leaves G1 (Ctrl-A x quits gonest)"
		exec "$gonest" "${args[@]}" -append "gonest.scenario=shell gonest.level=G1"
	fi
	exec "$gonest" "${args[@]}" -timeout "${minutes}m" -append "gonest.scenario=l2-demo gonest.level=G1"
fi
if ((status != 1)); then
	printf '%s\n' "$report" >&2
	echo "make run: gonest doctor failed (exit $status); see above" >&2
	exit "$status"
fi

echo "make run: gonest doctor: $verdict -- so the demo runs in the lab: QEMU (TCG, SVM) boots H, H's gonest boots G1"
lab=("$go" run ./lab/cmd/gonest-lab -images "$img" -scenario demo)
if ((interactive)); then
	exec "${lab[@]}" -interactive -timeout 4h -append "gonest.demo=shell"
fi
# H's scenario gets two minutes less than QEMU, so a hang ends with H's report.
exec "${lab[@]}" -timeout "${minutes}m" -append "gonest.demo=auto gonest.timeout=$((minutes - 2))m"
