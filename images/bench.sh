#!/usr/bin/env bash
# Debian's QEMU, with the shared libraries it loads and the firmware
# microvm boots, packed for a guest that runs it:
#
#   - for H's bench image (make bench-boot): an initramfs overlay holding
#     QEMU at its own paths and H's init built with the benchmark
#     scenarios. h.cpio.gz, which make test boots, stays without them; the
#     bench image is h.cpio.gz with this overlay appended (Linux unpacks
#     concatenated compressed archives in turn, a later file replacing an
#     earlier one of the same name: the overlay's /init wins);
#   - for G1's next-level disk (l2-qemu): a directory laid out as QEMU's
#     own root (usr/bin, lib, usr/share/qemu), which G1 runs from the
#     mounted disk through the loader in it, without copying anything.
#
#   bench.sh qemu-overlay OUT MKIMAGE QEMU INIT   write OUT (gzip'd cpio) from the host's QEMU and INIT
#   bench.sh qemu-tree OUT QEMU                   fill the directory OUT with the host's QEMU
set -euo pipefail

say() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: %s\n' "$*" >&2; exit 1; }

# The firmware QEMU microvm loads (bios-microvm.bin is qboot) and the
# option ROMs -kernel may add; missing ones are skipped.
FIRMWARE=(bios-microvm.bin qboot.rom linuxboot_dma.bin linuxboot.bin pvh.bin kvmvapic.bin)

# qemu_files QEMU prints SRC:DST for QEMU, every absolute path ldd names
# ("libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" and the loader
# itself, "/lib64/ld-linux-x86-64.so.2 (0x...)") and the firmware, each DST
# the path QEMU looks for it at.
qemu_files() {
	local qemu=$1 lib fw
	[[ -x $qemu ]] || die "no QEMU at $qemu; install it with: apt-get install -y qemu-system-x86"
	printf '%s:%s\n' "$(realpath "$qemu")" /usr/bin/qemu-system-x86_64
	while read -r lib; do
		printf '%s:%s\n' "$(realpath "$lib")" "$lib"
	done < <(ldd "$qemu" | grep -o '/[^ ]*' | sort -u)
	for fw in "${FIRMWARE[@]}"; do
		[[ -e /usr/share/qemu/$fw ]] && printf '%s:%s\n' "$(realpath "/usr/share/qemu/$fw")" "/usr/share/qemu/$fw"
	done
	return 0
}

qemu_overlay() {
	local out=$1 mkimage=$2 qemu=$3 init=$4 args=() pair files
	[[ -x $init ]] || die "no bench init at $init; build it with: make bench-images"
	files=$(qemu_files "$qemu")
	args+=(-file "$init:/init")
	while read -r pair; do
		args+=(-file "$pair")
	done <<<"$files"
	"$mkimage" initramfs -o "$out" "${args[@]}" >/dev/null
	say "QEMU overlay $out: $(( ${#args[@]} / 2 )) files"
}

# qemu_tree OUT QEMU replaces the directory OUT with QEMU's files, and
# leaves it untouched (its timestamp too) when they are the same.
qemu_tree() {
	local out=$1 qemu=$2 pair src dst tmp files
	files=$(qemu_files "$qemu")
	tmp=$(mktemp -d "$(dirname "$out")/.qemu-tree.XXXXXX")
	while IFS=: read -r src dst; do
		mkdir -p "$tmp$(dirname "$dst")"
		cp "$src" "$tmp$dst"
	done <<<"$files"
	if [[ -d $out ]] && diff -r -q "$tmp" "$out" >/dev/null 2>&1; then
		rm -rf "$tmp"
		return 0
	fi
	rm -rf "$out"
	mv "$tmp" "$out"
	say "QEMU tree $out: $(wc -l <<<"$files") files, $(du -sh "$out" | cut -f1)"
}

cmd=${1:-}
shift || true
case $cmd in
qemu-overlay) qemu_overlay "$@" ;;
qemu-tree) qemu_tree "$@" ;;
*) die "usage: bench.sh qemu-overlay OUT MKIMAGE QEMU INIT | qemu-tree OUT QEMU" ;;
esac
