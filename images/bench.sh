#!/usr/bin/env bash
# Bench-only additions to H (make bench-boot): QEMU, the shared libraries
# it loads and the firmware microvm boots, so that H can run QEMU microvm
# beside gonest in the same run, and H's init built with the benchmark
# scenarios. h.cpio.gz, which make test boots, stays without them; the
# bench image is h.cpio.gz with this overlay appended (Linux unpacks
# concatenated compressed archives in turn, a later file replacing an
# earlier one of the same name: the overlay's /init wins).
#
#   bench.sh qemu-overlay OUT MKIMAGE QEMU INIT   write OUT (gzip'd cpio) from the host's QEMU and INIT
set -euo pipefail

say() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: %s\n' "$*" >&2; exit 1; }

# The firmware QEMU microvm loads (bios-microvm.bin is qboot) and the
# option ROMs -kernel may add; missing ones are skipped.
FIRMWARE=(bios-microvm.bin qboot.rom linuxboot_dma.bin linuxboot.bin pvh.bin kvmvapic.bin)

qemu_overlay() {
	local out=$1 mkimage=$2 qemu=$3 init=$4 args=() lib fw
	[[ -x $qemu ]] || die "no QEMU at $qemu; install it with: apt-get install -y qemu-system-x86"
	[[ -x $init ]] || die "no bench init at $init; build it with: make bench-images"
	args+=(-file "$init:/init" -file "$qemu:/usr/bin/qemu-system-x86_64")
	# Every absolute path ldd names: "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)"
	# and the loader itself, "/lib64/ld-linux-x86-64.so.2 (0x...)".
	while read -r lib; do
		args+=(-file "$(realpath "$lib"):$lib")
	done < <(ldd "$qemu" | grep -o '/[^ ]*' | sort -u)
	for fw in "${FIRMWARE[@]}"; do
		[[ -e /usr/share/qemu/$fw ]] && args+=(-file "$(realpath "/usr/share/qemu/$fw"):/usr/share/qemu/$fw")
	done
	"$mkimage" initramfs -o "$out" "${args[@]}" >/dev/null
	say "QEMU overlay $out: $(( ${#args[@]} / 2 )) files"
}

cmd=${1:-}
shift || true
case $cmd in
qemu-overlay) qemu_overlay "$@" ;;
*) die "usage: bench.sh qemu-overlay OUT MKIMAGE QEMU INIT" ;;
esac
