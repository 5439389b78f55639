#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/deb.sh [--out DIR] [--version V]
#
# Build the Debian packages (akm-dkms, akm-tools, akm-nmm, akm-agent,
# akm-root) with dpkg-buildpackage from a copy of the tree (tracked and new
# files, not ignored ones), then run lintian on them: any error or warning
# fails.
# --version V builds version V (a changelog entry and VERSION in the copy
# only), for upgrade tests. The .debs land in DIR (build/deb).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/deb
version=

while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--version) version=$2; shift 2 ;;
	-h | --help) sed -n '4,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "deb.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

tree_version=$(cat "$top/VERSION")
log_version=$(cd "$top" && dpkg-parsechangelog -S Version)
if [ "$tree_version" != "$log_version" ]; then
	echo "deb.sh: VERSION says $tree_version, debian/changelog $log_version: make them agree" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/akm
mkdir -p "$src"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ ! -e "$f" ] || printf '%s\0' "$f"; done |
	tar --null -T - -cf -) | tar -xf - -C "$src"

if [ -n "$version" ]; then
	echo "$version" >"$src/VERSION"
	{
		printf 'akm (%s) bookworm; urgency=medium\n\n  * Built by scripts/deb.sh --version %s.\n\n' \
			"$version" "$version"
		printf ' -- %s  %s\n\n' "$(cd "$top" && dpkg-parsechangelog -S Maintainer)" "$(date -R)"
		cat "$src/debian/changelog"
	} >"$src/debian/changelog.new"
	mv "$src/debian/changelog.new" "$src/debian/changelog"
fi
v=$(cat "$src/VERSION")

echo "deb.sh: building akm $v"
(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$work/build.log" 2>&1 || {
	tail -n 40 "$work/build.log" >&2
	echo "deb.sh: dpkg-buildpackage failed" >&2
	exit 1
}
changes=$(ls "$work"/akm_"$v"_*.changes)
echo "deb.sh: lintian"
lintian --fail-on error,warning --display-info --suppress-tags-from-file /dev/null \
	"$changes" | tee "$work/lintian.log"
mkdir -p "$out"
for f in "$work"/*_"$v"_*.deb; do
	cp "$f" "$out/"
	echo "deb.sh: $out/$(basename "$f")"
done
