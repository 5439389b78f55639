#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ASR multicast groups, in the VM with akm.ko loaded: the ABI (akmctl) and
# the packet path (a UDP stream to a group is tagged on the wire, verified by
# a member, looped back to the sender's own socket; a stranger's plain
# datagrams to the group, IPv4 and IPv6, are dropped under the group ASR's
# policy, and delivered once the address is no group of an ASR). TAP, ends
# with a Totals line.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
A=userspace/akmctl/akmctl
W=$(mktemp -d /tmp/akm-mcast.XXXXXX)
. tests/lib.sh
cleanup() { ip netns del ma 2>/dev/null; ip netns del mb 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
echo "TAP version 13"
if [ ! -x "$A" ]; then
	echo "ok 1 - mcast # SKIP akmctl not built"
	echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0"
	exit 0
fi

ip netns add ma && ip netns add mb
ip link add name mva netns ma type veth peer name mvb netns mb
ip -n ma addr add 10.0.9.1/24 dev mva && ip -n mb addr add 10.0.9.2/24 dev mvb
for ns in ma mb; do
	ip -n $ns link set lo up
	ip -n $ns link set "mv${ns#m}" up
	ip -n $ns route add 239.0.0.0/8 dev "mv${ns#m}"
done
head -c 32 /dev/urandom >"$W/key"
for ns in ma mb; do
	id=$([ $ns = ma ] && echo 1 || echo 2)
	$A -n $ns node set id $id &&
	$A -n $ns asr add 1 alg chacha20-poly1305 group 239.9.9.9 group ff15::9 &&
	$A -n $ns member add asr 1 node 1 addr 10.0.9.1 state active &&
	$A -n $ns member add asr 1 node 2 addr 10.0.9.2 state active &&
	$A -n $ns key install asr 1 epoch 1 file "$W/key" &&
	$A -n $ns key activate asr 1 epoch 1 || ok 1 "setup in $ns"
done

out=$($A -n ma -j asr show 1)
python3 -c 'import json,sys; a=json.load(sys.stdin)[0]; sys.exit(a["groups"] != ["239.9.9.9", "ff15::9"])' <<<"$out"
ok $? "asr show lists the groups" "$out"
err=$($A -n ma asr set 1 group 10.0.9.7 2>&1)
[ $? = 1 ] && grep -q "an ASR group must be a multicast address" <<<"$err"
ok $? "a unicast group is refused" "$err"
err=$($A -n ma member set asr 1 node 2 addr 239.9.9.8 2>&1)
[ $? = 1 ] && grep -q "a member address must be unicast" <<<"$err"
ok $? "a multicast member address is refused" "$err"
$A -n ma asr add 2 alg hmac-sha256 >/dev/null
err=$($A -n ma asr set 2 group 239.9.9.9 2>&1)
[ $? = 1 ] && grep -q "already belongs to another member or ASR group" <<<"$err"
ok $? "a group of another ASR is refused" "$err"
$A -n ma asr set 2 group none && $A -n ma asr del 2
ok $? "group none clears; the ASR goes"

# receivers in both namespaces, then three datagrams from ma
cat >"$W/rx.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("239.9.9.9", 5009))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton("239.9.9.9") + socket.inet_aton(sys.argv[1]))
s.settimeout(4)
open(sys.argv[2], "w").close()	# joined: the sender may start
n = 0
try:
    while True:
        s.recvfrom(100)
        n += 1
except OSError:
    pass
print(n)
PY
ip netns exec mb python3 "$W/rx.py" 10.0.9.2 "$W/readyb" >"$W/rxb" &
ip netns exec ma python3 "$W/rx.py" 10.0.9.1 "$W/readya" >"$W/rxa" &
ip netns exec mb tcpdump -c 3 -nli mvb 'ip proto 253 and dst 239.9.9.9' >"$W/wire" 2>"$W/tcpdump" &
for i in $(seq 100); do
	[ -e "$W/readya" ] && [ -e "$W/readyb" ] && grep -q listening "$W/tcpdump" && break
	sleep 0.1
done
sleep 0.5	# the IGMP report goes out
ip netns exec ma python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.0.9.1"))
for i in range(3):
    s.sendto(b"hello", ("239.9.9.9", 5009))
    time.sleep(0.2)'
wait
[ "$(cat "$W/rxb")" = 3 ]
ok $? "a member receives the group's datagrams" "received $(cat "$W/rxb")"
[ "$(cat "$W/rxa")" = 3 ]
ok $? "the sender's own socket gets the looped-back copies" "received $(cat "$W/rxa")"
[ "$(grep -c 'ip-proto-253' "$W/wire")" = 3 ]
ok $? "on the wire they carry the AKM header" "$(cat "$W/wire")"
st=$($A -n mb -j stats show asr 1 node 1)
python3 -c 'import json,sys; s=json.load(sys.stdin); s=s[0] if isinstance(s,list) else s; sys.exit(s["stats"]["rx_packets"] < 3)' <<<"$st"
ok $? "the member counts them as verified" "$st"

# A stranger: ma without AKM, sending plain from addresses no ASR lists.
$A -n ma asr del 1 &&
	ip -n ma addr add 10.0.9.77/24 dev mva && ip -n ma addr add fd09::77/64 dev mva nodad &&
	ip -n mb addr add fd09::2/64 dev mvb nodad
ok $? "ma leaves AKM and gets addresses no ASR lists"
cat >"$W/rx2.py" <<'PY'
import socket, struct, sys
ifx = socket.if_nametoindex("mvb")
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s4.bind(("239.9.9.9", 5010))
s4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
              socket.inet_aton("239.9.9.9") + socket.inet_aton("10.0.9.2"))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s6.bind(("ff15::9", 5010, 0, ifx))
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
              socket.inet_pton(socket.AF_INET6, "ff15::9") + struct.pack("@I", ifx))
open(sys.argv[1], "w").close()
n = [0, 0]
for i, s in enumerate((s4, s6)):
    s.settimeout(3 if i == 0 else 0.5)
    try:
        while True:
            s.recvfrom(100)
            n[i] += 1
    except OSError:
        pass
print(n[0], n[1])
PY
cat >"$W/tx2.py" <<'PY'
import socket, time
ifx = socket.if_nametoindex("mva")
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.bind(("10.0.9.77", 0))
s4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.0.9.77"))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.bind(("fd09::77", 0))
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifx)
for i in range(3):
    s4.sendto(b"plain", ("239.9.9.9", 5010))
    s6.sendto(b"plain", ("ff15::9", 5010, 0, ifx))
    time.sleep(0.2)
PY
# stranger: RUN without|with the groups in mb's ASR 1; prints "v4 v6" received
stranger() {
	rm -f "$W/ready2"
	ip netns exec mb python3 "$W/rx2.py" "$W/ready2" >"$W/rx2" &
	for i in $(seq 100); do [ -e "$W/ready2" ] && break; sleep 0.1; done
	sleep 0.5
	ip netns exec ma python3 "$W/tx2.py"
	wait
	cat "$W/rx2"
}
plain() { $A -n mb -j stats show asr 1 | python3 -c 'import json,sys; s=json.load(sys.stdin); s=s[0] if isinstance(s,list) else s; print(s["stats"]["drop_plain"])'; }
p0=$(plain)
got=$(stranger)
p1=$(plain)
[ "$got" = "0 0" ] && [ $((p1 - p0)) = 6 ]
ok $? "a stranger's plain datagrams to the group (IPv4, IPv6) are dropped under policy drop" \
	"received '$got', drop_plain +$((p1 - p0))"
out=$($A -n mb asr set 1 group none 2>&1 && $A -n mb -j asr show 1)
python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)[0]["groups"] != [])' <<<"$out"
ok $? "mb's ASR 1 drops its groups (group none)" "$out"
p0=$(plain)
got=$(stranger)
p1=$(plain)
[ "$got" = "3 3" ]
ok $? "control: no longer a group of an ASR, the same datagrams are delivered" \
	"received '$got', drop_plain +$((p1 - p0)); $($A -n mb -j asr show 1)"

# A member of another ASR, tagging under that ASR to ASR 1's group: the
# group hears its own ASR only. ma is node 7 of ASR 2 (with mb), whose
# group (in ma's view) is 239.9.9.9; mb has that address as ASR 1's group.
head -c 32 /dev/urandom >"$W/key2"
$A -n mb asr set 1 group 239.9.9.9 &&
	$A -n mb asr add 2 alg hmac-sha256 &&
	$A -n mb member add asr 2 node 7 addr 10.0.9.77 state active &&
	$A -n mb key install asr 2 epoch 1 file "$W/key2" && $A -n mb key activate asr 2 epoch 1 &&
	$A -n ma node set id 7 && $A -n ma asr add 2 alg hmac-sha256 group 239.9.9.9 &&
	$A -n ma member add asr 2 node 2 addr 10.0.9.2 state active &&
	$A -n ma key install asr 2 epoch 1 file "$W/key2" && $A -n ma key activate asr 2 epoch 1
ok $? "ma in ASR 2 with mb, which has 239.9.9.9 as ASR 1's group"
nm() { $A -n mb -j stats show asr 2 | python3 -c 'import json,sys; s=json.load(sys.stdin); s=s[0] if isinstance(s,list) else s; print(s["stats"]["drop_not_member"])'; }
d0=$(nm)
got=$(stranger)
d1=$(nm)
[ "${got% *}" = 0 ] && [ $((d1 - d0)) = 3 ]
ok $? "datagrams to ASR 1's group tagged under ASR 2 are dropped (drop_not_member)" \
	"received '$got' (IPv4 IPv6), drop_not_member +$((d1 - d0))"
$A -n mb asr set 1 group none
got=$(stranger)
[ "${got% *}" = 3 ]
ok $? "control: once 239.9.9.9 is no group of ASR 1, they verify under ASR 2 and are delivered" \
	"received '$got' (IPv4 IPv6)"

totals
[ $fail = 0 ]
