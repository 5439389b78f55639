#!/bin/bash
# Install everything AKM needs to build and test on Debian 12 (bookworm), as root.
# Idempotent: a second run only checks.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "install-deps: run as root" >&2; exit 1; }

BPO=/etc/apt/sources.list.d/bookworm-backports.sources
if [ ! -e "$BPO" ]; then
	cat >"$BPO" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	rm -f /var/lib/apt/.akm-updated
fi

PKGS=(
	build-essential bc bison flex libelf-dev libssl-dev dwarves kmod cpio
	sparse
	linux-image-amd64 linux-headers-amd64 linux-source-6.1 linux-source-6.12
	qemu-system-x86 busybox-static rsync xz-utils zstd
	libnl-3-dev libnl-genl-3-dev keyutils libkeyutils-dev libsodium-dev pkg-config
	libtss2-dev swtpm swtpm-tools tpm2-tools libsqlite3-dev sqlite3
	iproute2 iputils-ping iperf3 tcpdump procps util-linux python3-yaml python3-jsonschema
	wireguard-tools nftables iptables conntrack socat
	clang libclang-rt-14-dev
	libsystemd-dev dpkg-dev debhelper dh-dkms dkms lintian mmdebstrap qemu-utils e2fsprogs
	postgresql libpq-dev
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
have_612=$(ls -d /usr/src/linux-headers-6.12.*[0-9]-amd64 2>/dev/null | head -1 || true)

if [ ${#missing[@]} -gt 0 ] || [ -z "$have_612" ]; then
	export DEBIAN_FRONTEND=noninteractive
	if [ ! -e /var/lib/apt/.akm-updated ]; then
		apt-get update -q
		touch /var/lib/apt/.akm-updated
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
	if [ -z "$have_612" ]; then
		img=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9.+~a-z]*-amd64$' |
			awk '{print $1}' | grep -v -- '-unsigned$' | sort -V | tail -1)
		[ -n "$img" ] || { echo "install-deps: no 6.12 kernel in bookworm-backports" >&2; exit 1; }
		ver=${img#linux-image-}
		apt-get install -y -q --no-install-recommends -t bookworm-backports \
			"linux-image-$ver" "linux-headers-$ver"
	fi
fi

# kselftest_harness.h and checkpatch.pl come from linux-source-6.1: unpack once, outside the repo.
SRC_DIR=/var/cache/akm/linux-source-6.1
if [ ! -e "$SRC_DIR/.done" ]; then
	mkdir -p "$SRC_DIR"
	tar -C "$SRC_DIR" --strip-components=1 -xaf /usr/src/linux-source-6.1.tar.xz \
		--wildcards '*/tools/testing/selftests/kselftest*' '*/scripts/checkpatch.pl' \
		'*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
	touch "$SRC_DIR/.done"
fi
# The kernel's own ynl tool and netlink schemas (6.12), to check our YNL spec.
YNL_DIR=/var/cache/akm/ynl-6.12
if [ ! -e "$YNL_DIR/.done" ]; then
	mkdir -p "$YNL_DIR"
	tar -C "$YNL_DIR" --strip-components=1 -xaf /usr/src/linux-source-6.12.tar.xz \
		--wildcards '*/tools/net/ynl' '*/Documentation/netlink/genetlink*.yaml'
	touch "$YNL_DIR/.done"
fi
echo "install-deps: ok"
