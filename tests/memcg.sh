#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What an unprivileged user makes AKM allocate (unshare -Urn, then ASRs,
# members, keys) is charged to that user: its objects to the memory cgroup
# of the process that made them, its keys to its key quota; and what other
# root processes do to root's key quota does not stop AKM. In the VM with
# akm.ko loaded; TAP, ends with a Totals line.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
. tests/lib.sh
W=$(mktemp -d /tmp/akm-memcg.XXXXXX)
export PYTHONDONTWRITEBYTECODE=1
CG=/sys/fs/cgroup
T=$CG/akm-memcg
cleanup() { rmdir "$T" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
echo "TAP version 13"

mountpoint -q $CG || mount -t cgroup2 none $CG
if ! grep -qw memory $CG/cgroup.controllers 2>/dev/null; then
	skip "memcg" "no cgroup2 memory controller"
	totals
	exit 0
fi
echo +memory >$CG/cgroup.subtree_control
chmod 755 "$W"

# As nobody, in a new user and network namespace, in cgroup $T (memory.max
# $1): ASRS ($2) ASRs of MEMBERS ($3) members each, or with "keys" as $3
# one epoch each. Prints "N ERRNO DELTA": objects made, the errno that
# stopped it (0: none), bytes the cgroup grew by meanwhile.
cat >"$W/fill.py" <<'PY'
import os, sys
sys.path.insert(0, "tests/pkt")
from akmpkt import Genl, UAPI

def current():
    try:
        return int(open("/sys/fs/cgroup/akm-memcg/memory.current").read())
    except OSError:
        return 0


asrs, what = int(sys.argv[1]), sys.argv[2]
g = Genl()
m0 = current()
n = err = 0
try:
    for a in range(1, asrs + 1):
        g.do("asr_new", asr_id=a, asr_alg=UAPI["AKM_ALG_HMAC_SHA256"])
        n += 1
        if what == "keys":
            g.do("key_install", asr_id=a, key_epoch=1, key_material=os.urandom(32))
            n += 1
            continue
        for m in range(1, int(what) + 1):
            g.do("member_new", asr_id=a, node_id=m, member_addrs=["fd00::%x:%x" % (a, m)])
            n += 1
except OSError as e:
    err = e.errno
print(n, err, current() - m0, flush=True)
PY
fill() {
	mkdir -p "$T" && echo "$1" >"$T/memory.max" && echo 0 >"$T/memory.swap.max" 2>/dev/null
	bash -c 'echo $$ >'"$T"'/cgroup.procs && exec setpriv --reuid=65534 --regid=65534 \
		--clear-groups unshare -Urn python3 '"$W"'/fill.py '"$2 $3"
}
avail() { awk '/MemAvailable/ { print $2 * 1024 }' /proc/meminfo; }

# 1. accounting: 20 ASRs x 200 members
out=$(fill max 20 200 2>&1)
read -r made err delta <<<"$out"
[ "${err:-1}" = 0 ] && [ "${made:-0}" = 4020 ] && [ "$delta" -ge $((4000 * 768)) ]
ok $? "4000 members made in a user namespace are charged to its memory cgroup (+$((${delta:-0} / 1024)) KiB, $((${delta:-0} / 4000)) bytes a member)" "$out"
rmdir "$T"

# 2. a limit: ENOMEM (or the cgroup's OOM killer), the host unaffected
a0=$(avail)
out=$(timeout 300 bash -c "$(declare -f fill); T=$T W=$W fill 16M 1024 256" 2>&1)
rc=$?
read -r made err delta <<<"$out"
ev=$(tr '\n' ' ' <"$T/memory.events" 2>/dev/null)
how="gets ENOMEM after ${made:-?} objects"
grep -q "oom_kill [1-9]" <<<"$ev" && how="is OOM-killed in its cgroup"
[ "${err:-0}" = 12 ] || grep -q "oom_kill [1-9]" <<<"$ev"
ok $? "with memory.max 16M the namespace $how" "rc $rc: $out; events: $ev"
sleep 1
a1=$(avail)
[ $((a0 - a1)) -lt $((32 * 1024 * 1024)) ] && userspace/akmctl/akmctl node show >/dev/null
ok $? "the host is unaffected: MemAvailable $((a0 / 1048576)) -> $((a1 / 1048576)) MiB, akmctl works" \
	"$(grep -E 'MemAvailable|Slab' /proc/meminfo)"
rmdir "$T"

# 3. keys count against the user's key quota (kernel.keys.maxkeys) in a
# namespace of another user namespace; root's keys in its own namespaces not
maxkeys=$(cat /proc/sys/kernel/keys/maxkeys)
out=$(fill max 400 keys 2>&1)
read -r made err delta <<<"$out"
[ "${err:-0}" = 122 ] && [ $((made / 2)) -le "$maxkeys" ]
ok $? "nobody's epochs stop at its key quota: EDQUOT after $((${made:-0} / 2)) keys (maxkeys $maxkeys)" "$out"
rmdir "$T"
ip netns add akm-memcg
out=$(ip netns exec akm-memcg python3 "$W/fill.py" 400 keys 2>&1)
ip netns del akm-memcg
read -r made err delta <<<"$out"
[ "${err:-1}" = 0 ] && [ "${made:-0}" = 800 ]
ok $? "control: root installs 400 keys in a namespace of its own" "$out"

# 4. root's key quota is every root process's: one without CAP_NET_ADMIN
# that fills it must not keep AKM (in namespaces of the initial user
# namespace) from installing keys
head -c 32000 /dev/zero >"$W/blob"
head -c 32 /dev/urandom >"$W/k"
out=$(keyctl session - bash -c '
	i=0
	while setpriv --bounding-set=-net_admin --inh-caps=-net_admin \
		keyctl padd user "k$i" @s <"'"$W"'/blob" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 5000 ] || break
	done
	keyctl padd user one-more @s <"'"$W"'/blob" 2>&1 | tail -n 1
	echo "filled $i"
	ip netns add akm-quota &&
		userspace/akmctl/akmctl -n akm-quota asr add 1 alg hmac-sha256 &&
		userspace/akmctl/akmctl -n akm-quota key install asr 1 epoch 1 file "'"$W"'/k" &&
		userspace/akmctl/akmctl -n akm-quota cred install id 9 file "'"$W"'/k" && echo akm ok
	ip netns del akm-quota' 2>&1)
grep -q "quota exceeded" <<<"$out" && grep -q "akm ok" <<<"$out"
ok $? "a root process without CAP_NET_ADMIN fills root's key quota; AKM still installs keys" "$out"

totals
[ $fail = 0 ]
