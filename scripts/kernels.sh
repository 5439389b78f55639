#!/bin/bash
# Print the supported kernels installed on this machine, one `uname -r` string
# per line: the newest Debian 6.1.x-amd64 and the newest 6.12.x+deb12-amd64
# (no -rt/-cloud flavours). A kernel counts only if its image
# (/boot/vmlinuz-VER) and its build tree (/lib/modules/VER/build or
# /usr/src/linux-headers-VER) are both present.
set -euo pipefail

BOOT=${AKM_BOOT_DIR:-/boot}

usable() {
	[ -e "$BOOT/vmlinuz-$1" ] &&
		{ [ -e "/lib/modules/$1/build/Makefile" ] || [ -e "/usr/src/linux-headers-$1/Makefile" ]; }
}

newest() { # $1 = extended regex the version must match
	local v
	for f in "$BOOT"/vmlinuz-*; do
		[ -e "$f" ] || continue
		v=${f##*/vmlinuz-}
		[[ $v =~ $1 ]] || continue
		usable "$v" && echo "$v"
	done | sort -V | tail -n 1
}

newest '^6\.1\.[0-9]+-[0-9]+-amd64$'
newest '^6\.12\.[0-9]+\+deb12[0-9.]*-amd64$'
