#!/bin/bash
# Build (or reuse) the small initramfs that scripts/vm-run.sh boots:
# busybox-static + the virtio/9p modules of kernel VER + scripts/vm-initramfs-init.sh
# as /init. Prints the path of the .cpio.gz on stdout.
#
#   scripts/vm-initramfs.sh VER
#
# Cached as $AKM_CACHE_DIR/initramfs-VER.cpio.gz (default /var/cache/akm, or
# ~/.cache/akm when that is not writable); rebuilt when missing or when an
# input changed (this script, the init, busybox, the kernel's modules.dep).
set -euo pipefail

VER=${1:?usage: vm-initramfs.sh KERNEL_VERSION}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INIT_SRC=$HERE/vm-initramfs-init.sh
BUSYBOX=${AKM_BUSYBOX:-/bin/busybox}
MODDIR=/lib/modules/$VER
# The modules needed to mount the 9p root, in load order; their dependencies
# are added in front of them, and ones built into (or absent from) VER skipped.
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	netfs fscache 9pnet 9pnet_virtio 9p)

die() { echo "vm-initramfs: $*" >&2; exit 1; }

CACHE=${AKM_CACHE_DIR:-/var/cache/akm}
if ! { mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ]; }; then
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/akm
	mkdir -p "$CACHE"
fi
OUT=$CACHE/initramfs-$VER.cpio.gz

[ -f "$MODDIR/modules.dep" ] || die "no $MODDIR/modules.dep (kernel $VER not installed?)"
[ -x "$BUSYBOX" ] || die "no $BUSYBOX (apt-get install busybox-static)"

# The cache may be shared by several checkouts: key it on the content of the
# inputs, not on mtimes.
stamp=$( {
	cat "${BASH_SOURCE[0]}" "$INIT_SRC"
	stat -L -c '%s %Y' "$BUSYBOX" "$MODDIR/modules.dep"
} | sha256sum | cut -d' ' -f1)
if [ -s "$OUT" ] && [ "$(cat "$OUT.stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$OUT"
	exit 0
fi

# busybox's insmod only reads plain .ko files (and must be static: there is no libc in the initramfs).
if ldd "$BUSYBOX" >/dev/null 2>&1; then
	die "$BUSYBOX is dynamically linked; install busybox-static"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/akm-initramfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,newroot,lib/akm-modules}
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$INIT_SRC" "$root/init"
if [ "$(id -u)" = 0 ]; then
	mknod -m 600 "$root/dev/console" c 5 1
	mknod -m 666 "$root/dev/null" c 1 3
fi

declare -A seen=()
: >"$root/lib/akm-modules/order"
for m in "${MODULES[@]}"; do
	deps=$(modprobe -S "$VER" --show-depends "$m" 2>/dev/null) || continue
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue # "builtin NAME": nothing to load
		name=${path##*/}
		name=${name%%.ko*}
		[ -n "${seen[$name]:-}" ] && continue
		seen[$name]=1
		case $path in
		*.ko.xz) xz -dc "$path" ;;
		*.ko.zst) zstd -qdc "$path" ;;
		*.ko.gz) gzip -dc "$path" ;;
		*.ko) cat "$path" ;;
		*) die "unexpected module file $path" ;;
		esac >"$root/lib/akm-modules/$name.ko"
		echo "$name" >>"$root/lib/akm-modules/order"
	done <<<"$deps"
done

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
	gzip -1 >"$tmp/initramfs.cpio.gz"
mv -f "$tmp/initramfs.cpio.gz" "$OUT.tmp.$$"
mv -f "$OUT.tmp.$$" "$OUT"
echo "$stamp" >"$OUT.stamp"
echo "vm-initramfs: built $OUT ($(tr '\n' ' ' <"$root/lib/akm-modules/order"))" >&2
echo "$OUT"
