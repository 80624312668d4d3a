#!/usr/bin/env bash
# Steps of the images pipeline that images.mk runs. Each step is cheap when
# its inputs have not changed: it rewrites an output only when the output's
# bytes (or, for the kernel, its key) change, so make's timestamps stay a
# faithful cache and a second `make images` downloads and rebuilds nothing.
#
#   build.sh host-tools              install missing host tools (root), or say how
#   build.sh bochs-tools             the same for the Intel lab: Bochs and the CD tools
#   build.sh gobin OUT PKG           CGO_ENABLED=0 go build PKG into OUT
#   build.sh gotests DIR STAMP PKG... go test -c each PKG that has tests into DIR/<name>.test
#   build.sh kernel OUT MKIMAGE MOD...  pick, download and unpack the Debian kernel, pick its modules
#   build.sh uroot OUT TOOLS VERSION u-root's busybox initramfs (no init), raw cpio
#   build.sh nextdisk OUT LABEL SRC:NAME...  ext4 image holding each SRC as NAME (next-level images)
#   build.sh modtree OUT MKIMAGE FROM MOD...  a lib/modules tree of MOD and their dependencies
set -euo pipefail

GO=${GO:-go}
GOFLAGS_BUILD=(-trimpath -buildvcs=false -ldflags=-s\ -w)

say() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: %s\n' "$*" >&2; exit 1; }

# replace_if_changed NEW OLD: move NEW over OLD unless they hold the same bytes.
replace_if_changed() {
	if [[ -e $2 ]] && cmp -s "$1" "$2"; then
		rm -f "$1"
	else
		mv -f "$1" "$2"
	fi
}

# apt_update runs apt-get update, at most once per build.sh run.
apt_updated=0 picked=
apt_update() {
	((apt_updated == 0)) || return 0
	if [[ $(id -u) != 0 ]]; then
		die "the apt package lists are empty; run: sudo apt-get update"
	fi
	say "apt-get update"
	apt-get update -qq || die "apt-get update failed: is the Debian mirror reachable? Retry with: apt-get update"
	apt_updated=1
}

# apt_update_once runs apt-get update only when the package lists do not
# know the kernel meta package yet (a clean CI machine), or when
# APT_UPDATE=1 asks for fresh lists.
apt_update_once() {
	if [[ ${APT_UPDATE:-0} != 1 ]] && apt-cache show "${KERNEL_META:-linux-image-amd64}" >/dev/null 2>&1; then
		return 0
	fi
	apt_update
}

# host_tools installs what the images and the AMD lab need: QEMU, its
# virtiofsd (the lab's shares, lab.Share), the image tools and gcc (the
# race detector).
host_tools() {
	local -A want=(
		[qemu-system-x86_64]=qemu-system-x86
		[/usr/lib/qemu/virtiofsd]=qemu-system-common
		[mke2fs]=e2fsprogs
		[xz]=xz-utils
		[dpkg-deb]=dpkg
		[cmp]=diffutils
		[gcc]=gcc
	)
	local missing=() tool
	for tool in "${!want[@]}"; do
		command -v "$tool" >/dev/null 2>&1 || missing+=("${want[$tool]}")
	done
	((${#missing[@]} == 0)) && return 0
	if [[ $(id -u) != 0 ]]; then
		die "missing host tools; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
	fi
	apt_update_once
	say "apt-get install -y ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
		|| die "apt-get install ${missing[*]} failed; run it by hand to see why: apt-get install -y ${missing[*]}"
}

# bochs_tools installs what the Intel lab boots H with (Bochs, its BIOS, and
# what makes its boot CD), or says in one line how when not root. The files
# are looked up under BOCHS_TOOLS_ROOT (a test's fake root), / by default.
bochs_tools() {
	local -A want=(
		[/usr/bin/bochs]=bochs
		[/usr/share/bochs/BIOS-bochs-latest]=bochsbios
		[/usr/share/vgabios/vgabios.bin]=vgabios
		[/usr/lib/ISOLINUX/isolinux.bin]=isolinux
		[/usr/lib/syslinux/modules/bios/ldlinux.c32]=syslinux-common
		[/usr/bin/genisoimage]=genisoimage
	)
	local missing=() f
	for f in "${!want[@]}"; do
		[[ -e ${BOCHS_TOOLS_ROOT:-}$f ]] || missing+=("${want[$f]}")
	done
	((${#missing[@]} == 0)) && return 0
	if [[ $(id -u) != 0 ]]; then
		die "the Intel lab needs ${missing[*]}; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
	fi
	apt_update_once
	say "apt-get install -y ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
		|| die "apt-get install ${missing[*]} failed; run it by hand to see why: apt-get install -y ${missing[*]}"
}

gobin() {
	local out=$1 pkg=$2
	mkdir -p "$(dirname "$out")"
	CGO_ENABLED=0 $GO build "${GOFLAGS_BUILD[@]}" -o "$out.new" "$pkg"
	replace_if_changed "$out.new" "$out"
}

gotests() {
	local dir=$1 stamp=$2 pkg name keep=()
	shift 2
	mkdir -p "$dir"
	for pkg in "$@"; do
		if ! compgen -G "$pkg/*_test.go" >/dev/null; then
			say "no tests in $pkg yet; skipped"
			continue
		fi
		name=$(basename "$pkg").test
		CGO_ENABLED=0 $GO test -c "${GOFLAGS_BUILD[@]}" -o "$dir/$name.new" "$pkg"
		replace_if_changed "$dir/$name.new" "$dir/$name"
		keep+=("$name")
	done
	# Drop binaries of packages no longer listed.
	local f
	for f in "$dir"/*.test; do
		[[ -e $f ]] || continue
		[[ " ${keep[*]} " == *" $(basename "$f") "* ]] || { say "removing stale $f"; rm -f "$f"; }
	done
	# The stamp lists each binary's hash: it changes exactly when one does.
	(cd "$dir" && sha256sum -- *.test 2>/dev/null || true) >"$stamp.new"
	replace_if_changed "$stamp.new" "$stamp"
}

# pick_kernel MKIMAGE sets picked to what KERNEL_VERSION and KERNEL_FLAVOUR
# select among the packages apt knows (mkimage kernelpkg): the newest
# unsigned image of that version, or, with a flavour alone, the flavour's
# meta package. A version newer than apt's lists gets one apt-get update
# (as root) before the answer is no: one line listing what exists.
pick_kernel() {
	local mkimage=$1 err
	local args=(-version "${KERNEL_VERSION:-}" -flavour "${KERNEL_FLAVOUR:-}")
	while :; do
		if picked=$(apt-cache pkgnames linux-image- | "$mkimage" kernelpkg "${args[@]}" 2>"$tmp/kernelpkg.err"); then
			return 0
		fi
		((apt_updated == 0)) && [[ $(id -u) == 0 ]] || break
		apt_update
	done
	err=$(tail -n1 "$tmp/kernelpkg.err")
	err=${err#mkimage kernelpkg: }
	[[ $(id -u) == 0 ]] || err+="; if it is newer than apt's package lists, run: sudo apt-get update"
	die "$err"
}

# kernel OUT MKIMAGE MODULE...: fills OUT/vmlinuz, OUT/vmlinux, OUT/modules/,
# OUT/kernel.release and OUT/kernel.stamp. The Debian kernel is picked by
# KERNEL_VERSION and KERNEL_FLAVOUR, or else by the meta package KERNEL_META
# (default linux-image-amd64); its .deb is kept in KERNEL_CACHE (default
# OUT/cache), which image sets built side by side can share. With
# KERNEL=path the user's bzImage is used instead, with modules from
# KERNEL_MODULES=lib/modules/<release> if set.
kernel() {
	local out=$1 mkimage=$2
	shift 2
	local mods=("$@") key src deb pkg release meta config=
	local cache=${KERNEL_CACHE:-$out/cache}
	mkdir -p "$out" "$cache"
	tmp=$(mktemp -d "$out/.kernel.XXXXXX")
	if [[ -n ${KERNEL:-} ]]; then
		[[ -f $KERNEL ]] || die "KERNEL=$KERNEL: no such file"
		key="user $(sha256sum <"$KERNEL") ${KERNEL_MODULES:-}"
	else
		apt_update_once
		meta=${KERNEL_META:-linux-image-amd64}
		if [[ -n ${KERNEL_VERSION:-}${KERNEL_FLAVOUR:-} ]]; then
			pick_kernel "$mkimage"
			if [[ -n ${KERNEL_VERSION:-} ]]; then
				pkg=$picked meta=
			else
				meta=${KERNEL_META:-$picked}
			fi
		fi
		if [[ -n $meta ]]; then
			pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1 || true)
			[[ -n $pkg ]] || die "cannot resolve $meta to a kernel package; run: apt-get update, then: apt-cache depends $meta"
			pkg+=-unsigned
		fi
		deb=$(cd "$cache" && compgen -G "${pkg}_*_amd64.deb" | head -n1 || true)
		if [[ -z $deb ]]; then
			say "downloading $pkg"
			(cd "$cache" && apt-get download -q "$pkg") \
				|| die "apt-get download $pkg failed; check the Debian mirror, then run: cd $cache && apt-get download $pkg"
			deb=$(cd "$cache" && compgen -G "${pkg}_*_amd64.deb" | head -n1)
		fi
		key="debian $deb"
	fi
	key+=" $(sha256sum <"$mkimage") ${mods[*]}"
	if [[ -f $out/kernel.stamp ]] && [[ $(<"$out/kernel.stamp") == "$key" ]]; then
		return 0
	fi

	if [[ -n ${KERNEL:-} ]]; then
		cp "$KERNEL" "$tmp/vmlinuz"
		if [[ -n ${KERNEL_MODULES:-} ]]; then
			release=$(basename "$KERNEL_MODULES")
			src=$KERNEL_MODULES
		fi
	else
		say "unpacking $deb"
		dpkg-deb -x "$cache/$deb" "$tmp/deb"
		release=$(ls "$tmp/deb/lib/modules")
		cp "$tmp/deb/boot/vmlinuz-$release" "$tmp/vmlinuz"
		src=$tmp/deb/lib/modules/$release
		[[ -f $tmp/deb/boot/config-$release ]] && config=$tmp/deb/boot/config-$release
	fi
	rm -rf "$out/modules"
	mkdir -p "$out/modules"
	if [[ -n ${src:-} ]]; then
		# Modules are found plain or compressed, built-in ones skipped
		# (mkimage says which); a wanted one that is neither stops the
		# build with the config option the kernel lacks.
		if ! "$mkimage" modules -from "$src" -to "$out/modules/$release" ${config:+-config "$config"} "${mods[@]}" 2>"$tmp/modules.err"; then
			local err
			err=$(tail -n1 "$tmp/modules.err")
			die "kernel $release: ${err#mkimage modules: }"
		fi
	else
		say "no modules for a user kernel without KERNEL_MODULES; the guests get none"
	fi
	"$mkimage" vmlinux -from "$tmp/vmlinuz" -to "$out/vmlinux" || say "no vmlinux extracted (optional)"
	replace_if_changed "$tmp/vmlinuz" "$out/vmlinuz"
	printf '%s\n' "${release:-user kernel}" >"$out/kernel.release"
	printf '%s' "$key" >"$out/kernel.stamp"
	say "kernel ready: ${release:-user kernel}"
}

uroot() {
	local out tools=$2 version=$3 src
	out=$(realpath -m "$1")
	mkdir -p "$tools" "$(dirname "$out")"
	tools=$(realpath "$tools")
	GOBIN=$tools $GO install "github.com/u-root/u-root@$version" \
		|| die "go install github.com/u-root/u-root@$version failed; is the Go module proxy reachable?"
	src=$($GO env GOMODCACHE)/github.com/u-root/u-root@$version
	[[ -d $src ]] || die "u-root $version source not in the module cache at $src; run: go install github.com/u-root/u-root@$version"
	say "building u-root $version busybox (about a minute)"
	# u-root must run inside its own module, so every path it gets is absolute.
	# It warns that Go is newer than it was tested with; it builds fine.
	if ! (cd "$src" && "$tools/u-root" -initcmd= -uinitcmd= -defaultsh= -o "$out.new" core) >"$out.log" 2>&1; then
		cat "$out.log" >&2
		die "u-root build failed (log above); rerun by hand: cd $src && $tools/u-root -o /tmp/x.cpio core"
	fi
	mv -f "$out.new" "$out"
}

# nextdisk OUT LABEL SRC:NAME...: an ext4 image labelled LABEL whose root
# holds each SRC (a file, or a directory copied whole) as NAME, sized to
# fit (mke2fs -d: no root, no loop device). No journal: the guest mounts
# it read-only. A NAME ending in ? is optional: a missing SRC is left out.
nextdisk() {
	local out=$1 label=$2 spec src name kib=0 inodes=64
	shift 2
	tmp=$(mktemp -d "$(dirname "$out")/.nextdisk.XXXXXX")
	for spec in "$@"; do
		src=${spec%%:*} name=${spec#*:}
		if [[ $name == *'?' ]]; then # NAME? marks an optional file
			name=${name%'?'}
			[[ -e $src ]] || { say "nextdisk: no $src, $name left out"; continue; }
		fi
		if [[ -d $src ]]; then
			cp -a "$src" "$tmp/$name"
			kib=$((kib + $(du -sk "$src" | cut -f1)))
			inodes=$((inodes + $(find "$src" | wc -l)))
			continue
		fi
		[[ -f $src ]] || die "nextdisk: $src missing"
		ln "$src" "$tmp/$name" 2>/dev/null || cp "$src" "$tmp/$name"
		kib=$((kib + ($(stat -c %s "$src") + 1023) / 1024))
	done
	# Room for the metadata: 10% and 2 MiB.
	kib=$((kib + kib / 10 + 2048))
	rm -f "$out.new"
	mke2fs -q -t ext4 -O ^has_journal -m 0 -N "$inodes" -L "$label" -E root_owner=0:0 -d "$tmp" "$out.new" "${kib}k" >/dev/null \
		|| die "mke2fs for $out failed; rerun by hand: mke2fs -t ext4 -d DIR $out.new ${kib}k"
	mv -f "$out.new" "$out"
	say "next-level disk $out (${kib} KiB): $*"
}

# modtree OUT MKIMAGE FROM MOD...: OUT/<release> holds MOD and their
# dependencies, taken from FROM/<release> (the modules the kernel step
# kept); OUT is rewritten only when that set changes.
modtree() {
	local out=$1 mkimage=$2 from=$3 release
	shift 3
	release=$(ls "$from")
	[[ $(wc -w <<<"$release") == 1 ]] || die "modtree: want one release in $from, found: $release"
	tmp=$(mktemp -d "$(dirname "$out")/.modtree.XXXXXX")
	"$mkimage" modules -from "$from/$release" -to "$tmp/$release" "$@" >/dev/null
	if [[ -d $out ]] && diff -r -q "$tmp" "$out" >/dev/null 2>&1; then
		return 0
	fi
	rm -rf "$out"
	mv "$tmp" "$out"
	tmp=
	say "modules $out: $*"
}

tmp=
trap '[[ -z $tmp ]] || rm -rf "$tmp"' EXIT

cmd=${1:-}
shift || true
case $cmd in
host-tools) host_tools "$@" ;;
bochs-tools) bochs_tools "$@" ;;
gobin) gobin "$@" ;;
gotests) gotests "$@" ;;
kernel) kernel "$@" ;;
uroot) uroot "$@" ;;
nextdisk) nextdisk "$@" ;;
modtree) modtree "$@" ;;
*) die "usage: build.sh host-tools|bochs-tools|gobin|gotests|kernel|uroot|nextdisk|modtree ..." ;;
esac
