#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The disk image of the boot test (tests/boot/lib.sh): a Debian 12 system
# with systemd as PID 1, built once with mmdebstrap and cached.
#
#   scripts/boot-image.sh [--force]
#   scripts/boot-image.sh --cached     exit 0 if the image is up to date
#
# Output, in $AKM_BOOT_CACHE (default /var/cache/akm/boot):
#   root-STAMP-DATE.img raw ext4 file system (no partition table, 6 GiB
#                       sparse, root=/dev/vda); read-only, the VMs use
#                       qcow2 overlays on it. A rebuild keeps the old ones
#                       that are in use or have overlays (users/ links).
#   vmlinuz-VER, initrd.img-VER   the image's 6.1 kernel, for -kernel/-initrd
#   image.env           KVER61=, KVER612=, STAMP=, IMAGE= (sourced by lib.sh)
#   stamp               STAMP, the hash of this script and the kernel
#                       versions: a run with the same inputs does nothing
#
# The kernels are those of scripts/kernels.sh: linux-image/headers of the 6.1
# one are installed; the .debs of the 6.12 one and of every dependency the
# image lacks are left in /var/cache/akm-kernels/ in the image, so that
# `apt install /var/cache/akm-kernels/*.deb` installs it offline in a VM.
#
# In the image (see the files written below):
#   akm-test-setup.service   sets the host name (akmtest.name=) and writes
#                            /etc/systemd/network/50-akmtest.network
#                            (akmtest.addr=, akmtest.addr6=, akmtest.mac=)
#                            before systemd-networkd starts
#   mnt-share.mount          the host's 9p share (mount_tag share)
#   akm-test-runner.service  after network-online.target: runs
#                            /mnt/share/NAME/cmd.N files (see the runner)
# apt has no package lists (offline): `apt install ./x.deb` works when the
# dependencies are installed. dpkg leaves out /usr/share/{doc,locale,info}
# while the image is built (not later, in the VMs); man pages are kept.
set -eu -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${AKM_BOOT_CACHE:-/var/cache/akm/boot}
MIRROR=http://deb.debian.org/debian
SECURITY=http://deb.debian.org/debian-security
SIZE=6G

die() { echo "boot-image: $*" >&2; exit 1; }
say() { echo "boot-image: $*" >&2; }

FORCE=0 CACHED=0
case ${1:-} in
--force) FORCE=1 ;;
--cached) CACHED=1 ;;
'') ;;
*) die "usage: $0 [--force | --cached]" ;;
esac

KVERS=$(bash "$HERE/kernels.sh") || die "scripts/kernels.sh failed"
KVER61=$(grep -E '^6\.1\.' <<<"$KVERS" || true)
KVER612=$(grep -E '^6\.12\.' <<<"$KVERS" || true)
[ -n "$KVER61" ] || die "no 6.1 kernel in scripts/kernels.sh"
[ -n "$KVER612" ] || say "warning: no 6.12 kernel in scripts/kernels.sh: none downloaded into the image"
STAMP=$( { cat "${BASH_SOURCE[0]}"; echo "$KVER61 $KVER612"; } | sha256sum | cut -c1-16)

cached() {
	local old
	old=$(sed -n 's/^IMAGE=//p' "$CACHE/image.env" 2>/dev/null || true)
	[ "$(cat "$CACHE/stamp" 2>/dev/null)" = "$STAMP" ] && [ -n "$old" ] && [ -s "$CACHE/$old" ] &&
		[ -s "$CACHE/vmlinuz-$KVER61" ] && [ -s "$CACHE/initrd.img-$KVER61" ]
}
if [ "$CACHED" = 1 ]; then
	cached || { say "not built or out of date: $CACHE (run scripts/boot-image.sh)"; exit 1; }
	say "up to date: $CACHE (stamp $STAMP)"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap --mode=root)"
for t in mmdebstrap mke2fs apt-get; do
	command -v "$t" >/dev/null || die "$t not found"
done

mkdir -p "$CACHE"
exec 9>>"$CACHE/.lock"
flock 9 || die "cannot lock $CACHE/.lock"
if [ "$FORCE" = 0 ] && cached; then
	say "up to date: $CACHE (stamp $STAMP; --force rebuilds)"
	exit 0
fi

TMP=$CACHE/build.tmp
rm -rf "$TMP"
mkdir -p "$TMP/stage"
trap 'rm -rf "$TMP"' EXIT
S=$TMP/stage	# copied into the image before the packages are installed

# initramfs-tools: only what a virtio disk with ext4 needs (small and fast
# to unpack under TCG); the same for kernels installed later in the VM.
mkdir -p "$S/etc/initramfs-tools/conf.d" "$S/etc/initramfs-tools/hooks"
cat >"$S/etc/initramfs-tools/conf.d/akmtest" <<'EOF'
# boot test (scripts/boot-image.sh): the modules come from hooks/akmtest
MODULES=list
RESUME=none
COMPRESS=zstd
EOF
cat >"$S/etc/initramfs-tools/hooks/akmtest" <<'EOF'
#!/bin/sh
# boot test (scripts/boot-image.sh): a virtio root disk with ext4
case $1 in prereqs) exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules virtio_pci virtio_blk ext4 crc32c_generic
EOF
chmod 0755 "$S/etc/initramfs-tools/hooks/akmtest"

mkdir -p "$S/usr/local/sbin" "$S/etc/systemd/system" "$S/etc/modules-load.d" "$S/mnt/share"
cat >"$S/usr/local/sbin/akm-test-setup" <<'EOF'
#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot test (scripts/boot-image.sh): the host name and the network address
# from the kernel command line, kept in /etc for the next boots.
set -eu
read -ra words </proc/cmdline
arg() {
	local w
	for w in "${words[@]}"; do
		case $w in "$1="*) echo "${w#*=}"; return ;; esac
	done
}
name=$(arg akmtest.name)
if [ -n "$name" ]; then
	[ "$(cat /etc/hostname 2>/dev/null)" = "$name" ] || echo "$name" >/etc/hostname
	echo "$name" >/proc/sys/kernel/hostname
	if ! grep -qx "127.0.1.1 $name" /etc/hosts; then
		sed -i '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts
		echo "127.0.1.1 $name" >>/etc/hosts
	fi
fi
addr=$(arg akmtest.addr) addr6=$(arg akmtest.addr6) mac=$(arg akmtest.mac)
[ -n "$addr$addr6" ] || exit 0
f=/etc/systemd/network/50-akmtest.network
new=$(
	echo "# written by akm-test-setup from the kernel command line"
	echo "[Match]"
	if [ -n "$mac" ]; then echo "MACAddress=$mac"; else echo "Driver=virtio_net"; fi
	echo
	echo "[Network]"
	[ -z "$addr" ] || echo "Address=$addr"
	[ -z "$addr6" ] || echo "Address=$addr6"
	echo "LinkLocalAddressing=ipv6"
	echo "IPv6AcceptRA=no"
)
if [ "$(cat "$f" 2>/dev/null)" != "$new" ]; then
	printf '%s\n' "$new" >"$f.tmp"
	mv -f "$f.tmp" "$f"
fi
EOF
cat >"$S/usr/local/sbin/akm-test-runner" <<'EOF'
#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot test (scripts/boot-image.sh): run the host's commands. The host
# (tests/boot/lib.sh) renames a file into /mnt/share/NAME/cmd.N; it is run
# once, in the order of N, one at a time: `bash cmd.N` as root from /, stdin
# /dev/null, stdout+stderr to out.N, then the exit status goes to rc.N
# (renamed into place). A first line "# akmtest-timeout=SEC" sets the
# timeout (default 900 s; 124 on timeout). run.N marks a started command:
# one cut short by a reboot gets rc 255 at the next boot, never a rerun.
set -u
share=/mnt/share
read -ra words </proc/cmdline
name=
for w in "${words[@]}"; do
	case $w in akmtest.name=*) name=${w#*=} ;; esac
done
[ -n "$name" ] || name=$(cat /proc/sys/kernel/hostname)
dir=$share/$name
mkdir -p "$dir" || exit 1
fifo=/run/akm-test-runner.fifo
rm -f "$fifo"
mkfifo "$fifo" && exec 3<>"$fifo" || exit 1

say() { echo "akm-test-runner: $*"; }
finish() { # N STATUS
	echo "$2" >"$dir/.rc.$1.tmp" && mv -f "$dir/.rc.$1.tmp" "$dir/rc.$1"
	say "cmd.$1 exit $2"
}
run() { # N
	local n=$1 f=$dir/cmd.$1 t=900 line=
	IFS= read -r line <"$f" || true
	[[ $line =~ ^#\ akmtest-timeout=([0-9]+) ]] && t=${BASH_REMATCH[1]}
	: >"$dir/run.$n"
	say "cmd.$n start (timeout ${t}s)"
	(cd / && exec timeout -k 10 "$t" bash "$f") </dev/null >"$dir/out.$n" 2>&1
	finish "$n" $?
}

declare -A seen
say "ready: $name, $(uname -r), boot $(cat /proc/sys/kernel/random/boot_id)"
while :; do
	new=()
	for f in "$dir"/cmd.*; do
		n=${f##*/cmd.}
		[[ $n =~ ^[0-9]+$ ]] && [ -z "${seen[$n]:-}" ] || continue
		seen[$n]=1
		[ ! -e "$dir/rc.$n" ] || continue
		if [ -e "$dir/run.$n" ]; then
			echo "akm-test-runner: interrupted (reboot or runner restart)" >>"$dir/out.$n"
			finish "$n" 255
			continue
		fi
		new+=("$n")
	done
	if [ ${#new[@]} -gt 0 ]; then
		for n in $(printf '%s\n' "${new[@]}" | sort -n); do
			run "$n"
		done
		continue
	fi
	read -r -t 0.2 -u 3 || true
done
EOF
chmod 0755 "$S/usr/local/sbin/akm-test-setup" "$S/usr/local/sbin/akm-test-runner"

cat >"$S/etc/systemd/system/akm-test-setup.service" <<'EOF'
[Unit]
Description=AKM boot test: host name and address from the kernel command line
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target network-pre.target systemd-networkd.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/akm-test-setup

[Install]
WantedBy=sysinit.target
EOF
cat >"$S/etc/systemd/system/mnt-share.mount" <<'EOF'
[Unit]
Description=AKM boot test: the host's share (9p)
DefaultDependencies=no
After=systemd-modules-load.service
Conflicts=umount.target
Before=umount.target

[Mount]
What=share
Where=/mnt/share
Type=9p
Options=trans=virtio,version=9p2000.L,msize=262144,cache=none
EOF
cat >"$S/etc/systemd/system/akm-test-runner.service" <<'EOF'
[Unit]
Description=AKM boot test: command runner (/mnt/share/NAME/cmd.N)
Requires=mnt-share.mount
After=mnt-share.mount akm-test-setup.service network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/sbin/akm-test-runner
Restart=always
RestartSec=1
Environment=HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive
StandardOutput=journal+console
StandardError=journal+console
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
EOF
printf '9pnet_virtio\n9p\n' >"$S/etc/modules-load.d/akmtest.conf"

PKGS=(systemd-sysv udev dbus kmod iproute2 iputils-ping nftables iperf3 keyutils
	procps less e2fsprogs zstd initramfs-tools bash-completion man-db
	wireless-regdb	# networkd's nl80211 query loads cfg80211, which wants it
	"linux-image-$KVER61" "linux-headers-$KVER61"
	dkms build-essential libnl-3-200 libnl-genl-3-200 libsodium23 libsqlite3-0
	libtss2-esys-3.0.2-0 libtss2-tctildr0 libtss2-mu0 libtss2-rc0 libsystemd0
	postgresql libpq5 libnss-systemd)	# the root server (tests/boot/root.sh)
MASK=(apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service
	man-db.timer man-db.service e2scrub_all.timer e2scrub_reap.service fstrim.timer
	dpkg-db-backup.timer systemd-timesyncd.service getty@tty1.service
	systemd-firstboot.service)

# In the finished tree (as $1): configuration, units, the 6.12 .debs, checks.
cat >"$TMP/customize.sh" <<EOF
#!/bin/sh
set -eu
r=\$1
echo akmtest >"\$r/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"\$r/etc/hosts"
rm -f "\$r/etc/resolv.conf"
echo '# boot test VM: no DNS' >"\$r/etc/resolv.conf"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 0' >"\$r/etc/fstab"
systemctl --root="\$r" set-default multi-user.target
systemctl --root="\$r" enable systemd-networkd.service akm-test-setup.service akm-test-runner.service
systemctl --root="\$r" mask ${MASK[*]}
if [ -n "$KVER612" ]; then
	d=\$r/var/cache/akm-kernels
	mkdir -p "\$d/partial"
	APT_CONFIG=\$MMDEBSTRAP_APT_CONFIG apt-get -y -q --download-only \\
		-o Dir::Cache::Archives="\$d/" install "linux-image-$KVER612" "linux-headers-$KVER612"
	rm -rf "\$d/partial" "\$d/lock"
	ls "\$d"/linux-image-*.deb >/dev/null
fi
chroot "\$r" lsinitramfs "/boot/initrd.img-$KVER61" >"\$r/tmp/initrd.list"
for m in virtio_blk.ko ext4.ko; do
	grep -q "/\$m" "\$r/tmp/initrd.list" || { echo "customize: \$m is not in the initrd" >&2; exit 1; }
done
rm -f "\$r/tmp/initrd.list" "\$r/etc/dpkg/dpkg.cfg.d/99mmdebstrap"
# ConditionNeedsUpdate= is met (journal catalog etc.): nothing to redo at first boot.
u=\$(( \$(stat -c %Y "\$r/usr") + 1 ))
for f in "\$r/etc/.updated" "\$r/var/.updated"; do
	echo "TIMESTAMP_NSEC=\${u}000000000" >"\$f"
	touch -d "@\$u" "\$f"
done
EOF
chmod 0755 "$TMP/customize.sh"

start=$SECONDS
say "mmdebstrap: bookworm (+updates, security, backports), kernel $KVER61${KVER612:+, .debs of $KVER612}"
mmdebstrap --mode=root --variant=apt --format=directory \
	--aptopt='Acquire::Retries "3"' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--include="$(IFS=,; echo "${PKGS[*]}")" \
	--essential-hook="sync-in $S /" \
	--customize-hook="$TMP/customize.sh" \
	bookworm "$TMP/root" \
	"deb $MIRROR bookworm main" \
	"deb $MIRROR bookworm-updates main" \
	"deb $SECURITY bookworm-security main" \
	"deb $MIRROR bookworm-backports main"
say "mmdebstrap done in $((SECONDS - start))s ($(du -sh "$TMP/root" | cut -f1))"

cp "$TMP/root/boot/vmlinuz-$KVER61" "$TMP/root/boot/initrd.img-$KVER61" "$TMP/"
IMG=root-$STAMP-$(date +%Y%m%d%H%M%S).img	# new name even with --force
truncate -s "$SIZE" "$TMP/$IMG"
mke2fs -q -t ext4 -L akmroot -E root_owner=0:0 -d "$TMP/root" "$TMP/$IMG"
chmod 0444 "$TMP/$IMG"

# Put the new files in place (renames: a VM booting now gets old or new).
mv -f "$TMP/vmlinuz-$KVER61" "$TMP/initrd.img-$KVER61" "$TMP/$IMG" "$CACHE/"
printf 'KVER61=%s\nKVER612=%s\nSTAMP=%s\nIMAGE=%s\n' "$KVER61" "$KVER612" "$STAMP" "$IMG" >"$CACHE/image.env.tmp"
mv -f "$CACHE/image.env.tmp" "$CACHE/image.env"
echo "$STAMP" >"$CACHE/stamp"
for f in "$CACHE"/vmlinuz-* "$CACHE"/initrd.img-*; do
	case ${f##*/} in "vmlinuz-$KVER61"|"initrd.img-$KVER61") ;; *) rm -f "$f" ;; esac
done
# Older images go, unless a process has one open or an overlay of
# tests/boot/lib.sh (registered in users/, its image in DISK.base) is on
# it. (root.img, the name of the first builds, is left alone.)
in_use() {
	local l
	for l in /proc/[0-9]*/fd/*; do
		[ "$(readlink "$l" 2>/dev/null)" != "$1" ] || return 0
	done
	return 1
}
used=' '
for l in "$CACHE"/users/*; do
	[ -L "$l" ] || continue
	d=$(readlink "$l")
	if [ -e "$d" ] && [ -e "$d.base" ]; then used+="$(cat "$d.base") "; else rm -f "$l"; fi
done
for f in "$CACHE"/root-*.img; do
	if [ ! -e "$f" ] || [ "$f" = "$CACHE/$IMG" ]; then continue; fi
	case $used in
	*" $f "*) say "keeping ${f##*/}: an overlay is on it" ;;
	*) if in_use "$f"; then say "keeping ${f##*/}: in use"; else rm -f "$f"; fi ;;
	esac
done
say "built $CACHE/$IMG in $((SECONDS - start))s ($(du -h "$CACHE/$IMG" | cut -f1) used of $SIZE)"
