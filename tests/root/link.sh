#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The sites' link (Documentation/root.md), in a VM with akm.ko loaded (as
# root): akm-rootd on a PostgreSQL of the test's own listens for sites in a
# namespace of its own; a site's bundle is exported by the root and imported
# by the site's akm-nmmd in another (akmctl nmm root import), which then
# connects as a node connects to its NMM. Checked: the bootstrap and session
# connections (the session authenticated by both kernels under the
# provisioning ASR 0x80000000 | site id), restarts of the root (kill -9) and
# of the database, a second root instance in the same namespace, a copy of
# the site's credential at another address, an unknown site id, a wrong
# transfer code, another site's bundle, the end of a deleted site's link and
# root forget. Plain TCP between the namespaces is checked first, without
# AKM, so that a failure says whose it is.
#
#   scripts/vm-run.sh --kernel VER --module build/VER/akm.ko -- tests/root/link.sh
set -uo pipefail

W=$(mktemp -d /tmp/akm-link.XXXXXX)
chmod 711 "$W"
P=akmln-
ROOT_PID= NMM_PID=
NAME="root link"
. "$(dirname "${BASH_SOURCE[0]}")/vm.sh"

cleanup() { vm_teardown "$NMM_PID $ROOT_PID" root east m; }
trap cleanup EXIT

root() { "$AKMCTL" root socket "$W/root/admin.sock" "$@"; }
rootj() { "$AKMCTL" -j root socket "$W/root/admin.sock" "$@"; }
declare -A ADDR=([root]=10.9.8.1 [east]=10.9.8.2 [m]=10.9.8.66)
SITE=2 ROOT_ID=1
PROV=$((0x80000000 | SITE))

addr() { echo "${ADDR[$1]}"; }
bridge_up
for ns in root east m; do netns_up "$ns"; done

# ---- without AKM: the network carries TCP between the site and the root ----
in_ns root socat -T 5 TCP-LISTEN:4799,bind="${ADDR[root]}",reuseaddr EXEC:'echo pong' &
sleep 0.5
[ "$(in_ns east socat -T 5 - TCP:"${ADDR[root]}":4799 </dev/null 2>/dev/null)" = pong ]
ok $? "without AKM: TCP from the site to the root"
wait

pg_start "$W/pg"
ok $? "PostgreSQL started" "$(tail -n 5 "$W/pg/pg.log" 2>/dev/null)"

start_root() {
	# not through in_ns: $! is then the daemon, not a subshell
	ip netns exec "${P}root" "$ROOTD" --id $ROOT_ID --database "$PG_DB" \
		--listen "${ADDR[root]}" --state "$W/root" --foreground >>"$W/root.log" 2>&1 &
	ROOT_PID=$!
	wait_for 20 test -S "$W/root/admin.sock"
}
start_root
ok $? "akm-rootd listens for sites" "$(tail -n 5 "$W/root.log")"
in_ns root "$AKMCTL" node show | grep -q "^node $ROOT_ID "
ok $? "the root's kernel has the root's node id" "$(in_ns root "$AKMCTL" node show)"

root site add east id $SITE endpoint "${ADDR[east]}:4790" >/dev/null &&
	root site export east file "$W/east.bundle" >"$W/export.out"
ok $? "site added and exported" "$(cat "$W/export.out")"
code=$(sed -n 's/^transfer code //p' "$W/export.out")

# ---- the site's NMM imports it ----
start_nmm() {
	ip netns exec "${P}east" "$NMMD" --id $SITE --listen "${ADDR[east]}" --state "$W/east" \
		--foreground >>"$W/nmm.log" 2>&1 &
	NMM_PID=$!
	wait_for 20 test -S "$W/east/admin.sock"
}
nmm() { "$AKMCTL" nmm socket "$W/east/admin.sock" "$@"; }
start_nmm
ok $? "the site's NMM runs" "$(tail -n 5 "$W/nmm.log")"
out=$(echo AAAAAAAAAAAAAAAAAAAA | nmm root import "$W/east.bundle" code-file - 2>&1)
[ $? = 1 ] && grep -q "wrong transfer code" <<<"$out" && ! nmm root show >/dev/null 2>&1
ok $? "a wrong transfer code is refused, nothing kept" "$out"
root site add west id 3 endpoint 10.9.8.3 >/dev/null &&
	root site export west file "$W/west.bundle" >"$W/west.out"
out=$(sed -n 's/^transfer code //p' "$W/west.out" | nmm root import "$W/west.bundle" code-file - 2>&1)
[ $? = 1 ] && grep -q "this bundle is for site 3, and this NMM's id is $SITE" <<<"$out"
ok $? "another site's bundle is refused" "$out"
out=$(echo "$code" | nmm root import "$W/east.bundle" code-file - 2>&1)
ok $? "the site's NMM imports its bundle" "$out"
# the attacker's copy of the credential, for later (akm-agent keeps it in a file)
echo "$code" | in_ns m "$AGENT" import "$W/east.bundle" --state "$W/copy" --code-file - \
	--no-start >/dev/null 2>&1
ok $? "(a copy of the bundle opened elsewhere, for the attacks below)"

site_field() {	# FIELD: of 'root site list east'
	rootj site list east | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['$1'])"
}
online() { [ "$(site_field link)" = online ]; }
current() {	# NS: the current epoch of the provisioning ASR in its kernel, 0 if none
	in_ns "$1" "$AKMCTL" -j asr show $PROV 2>/dev/null | python3 -c '
import json, sys
a = json.load(sys.stdin)
a = a[0] if isinstance(a, list) else a
print(max([k["epoch"] for k in a.get("keys", []) if k.get("state") == "current"] or [0]),
      a.get("policy"))' 2>/dev/null || echo "0 none"
}
wait_for 60 online
ok $? "the site's link comes up" "$(tail -n 5 "$W/nmm.log"; tail -n 5 "$W/root.log")"
nmm root show | grep -q "^root $ROOT_ID addr ${ADDR[root]} port 4790 state session "
ok $? "akmctl nmm root show: the session" "$(nmm root show)"
nmm root show | sed 's/^/# /'
root site list east | sed 's/^/# /' 
grep -q "event root-online root $ROOT_ID session" "$W/nmm.log"
ok $? "the NMM says root-online" "$(grep root- "$W/nmm.log")"
[ "$(site_field state)" = active ]
ok $? "the site is active" "$(root site list east)"
db_session() { pg_sql -c "SELECT session FROM sites WHERE id = $SITE"; }
session=$(db_session)
r=$(current root) e=$(current east)
[ "$r" = "$session drop" ] && [ "$e" = "$session drop" ]
ok $? "both kernels keyed session $session, policy drop" "root: $r, site: $e"

# the session connection is tagged: the root's kernel counts the site's packets
rx() {
	in_ns root "$AKMCTL" -j asr show $PROV | python3 -c '
import json, sys
a = json.load(sys.stdin)
a = a[0] if isinstance(a, list) else a
print(sum(m["stats"].get("rx_packets", 0) for m in a["members"] if m["node"] == '$SITE'))'
}
before=$(rx)
sleep 12	# a heartbeat
after=$(rx)
[ "$after" -gt "$before" ] && [ "$(site_field last_contact)" != never ]
ok $? "heartbeats arrive authenticated ($before -> $after packets)" "$(root site list east)"

# ---- a copy of the site's credential at another address ----
copy() {	# SESSION: WELCOME's STATUS (or "none")
	in_ns m env PYTHONPATH="$REPO/userspace/tests" python3 - "$W/copy/cred" "${ADDR[root]}" \
		"$1" "$SITE" "$ROOT_ID" <<'EOF'
import hashlib, hmac, os, socket, struct, sys
cred = open(sys.argv[1], "rb").read()
k_auth = hmac.new(cred, b"AKM v1 auth", hashlib.sha256).digest()
session, site, root = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
from akmp import frame, parse, recv_frame, tlv
def recv(s): return parse(recv_frame(s))
nn, inst = os.urandom(32), 0x1234567
s = socket.create_connection((sys.argv[2], 4790), timeout=10)
s.sendall(frame(1, tlv(1, b"\3") + tlv(2, struct.pack(">I", site)) + tlv(3, struct.pack(">I", root)) +
                tlv(4, nn) + tlv(20, struct.pack(">I", 0)) + tlv(12, struct.pack(">I", 0)) +
                tlv(21, struct.pack(">Q", inst)) + tlv(22, struct.pack(">I", session))))
typ, t = recv(s)
if typ == 4:
    print(struct.unpack(">I", t[6])[0]); sys.exit(0)
tr = (struct.pack(">II", site, root) + nn + t[4] + struct.pack(">IIQI", 0, 0, inst, session))
if not hmac.compare_digest(t[5], hmac.new(k_auth, b"nmm" + tr, hashlib.sha256).digest()):
    print("bad-challenge"); sys.exit(0)
s.sendall(frame(3, tlv(5, hmac.new(k_auth, b"node" + tr, hashlib.sha256).digest())))
typ, t = recv(s)
print(struct.unpack(">I", t[6])[0] if typ == 4 else "none")
EOF
}
st=$(copy "$session")
[ "$st" = 13 ] && grep -q "site $SITE from ${ADDR[m]}: refused: session-from-foreign-address" \
	"$W/root.log"
ok $? "a copy's session connection from another address: EACCES" "status $st"
st=$(copy 0)
[ "$st" = 16 ] && grep -q "site $SITE from ${ADDR[m]}: refused: bootstrap-during-session" \
	"$W/root.log"
ok $? "a copy's bootstrap connection during the session: EBUSY" "status $st"
online && [ "$(current root)" = "$session drop" ]
ok $? "the site's session is untouched" "$(current root)"

# an id no site can have costs the database nothing
mark=$(wc -l <"$W/root.log")
st=$(SITE=$((0x80000001)) copy 0)
[ "$st" = bad-challenge ] &&
	grep -q "site $((0x80000001)) from ${ADDR[m]}: handshake failed: unknown-site" "$W/root.log" &&
	! tail -n +"$mark" "$W/root.log" | grep -q "database:"
ok $? "an id above 2^31: a CHALLENGE that proves nothing, no query" \
	"status $st; $(tail -n +"$mark" "$W/root.log")"

# an unknown site id gets a CHALLENGE like a known one, then EACCES
st=$(SITE=7 copy 0)
[ "$st" = bad-challenge ] && grep -q "site 7 from ${ADDR[m]}: handshake failed: unknown-site" \
	"$W/root.log"
ok $? "an unknown site id: a CHALLENGE that proves nothing, refused" "status $st"
root site list | grep -q "site east"
ok $? "failed handshakes leave the records alone" "$(root site list)"

# ---- the NMM restarted, and given its bundle again: a new session each time ----
kill "$NMM_PID"; wait "$NMM_PID" 2>/dev/null
wait_for 40 sh -c "! $AKMCTL -j root socket $W/root/admin.sock site list east | grep -q online"
st=$(copy 0)
[ "$st" = 13 ] && grep -q "site $SITE from ${ADDR[m]}: refused: bootstrap-from-foreign-address" \
	"$W/root.log"
ok $? "the site offline: a copy's bootstrap from another address is refused (EACCES)" "status $st"
start_nmm
newer() { [ "$(db_session)" -gt "$session" ] && online; }
wait_for 60 newer
s1=$(db_session)
[ "$(current root)" = "$s1 drop" ] && [ "$(current east)" = "$s1 drop" ]
ok $? "the NMM restarted: a new session $s1 (was $session)" \
	"root $(current root), site $(current east); $(tail -n 5 "$W/nmm.log")"
echo "$code" | nmm root import "$W/east.bundle" code-file - >/dev/null 2>&1
session=$s1
wait_for 60 newer
s2=$(db_session)
[ "$(current root)" = "$s2 drop" ] && [ "$(current east)" = "$s2 drop" ]
ok $? "the bundle imported again over the session: a new session $s2" \
	"root $(current root), site $(current east); $(tail -n 5 "$W/nmm.log")"
session=$s2
out=$(nmm node add n2 id 9 addr 10.9.8.20 2>&1)
[ $? = 1 ] && grep -q "takes its nodes and ASRs from root $ROOT_ID: change them there" <<<"$out"
ok $? "a node added at the site's NMM is refused, with where to add it" "$out"

# ---- the database restarted under a session ----
pg_restart fast
sleep 12
online && [ "$(current root)" = "$session drop" ]
ok $? "a restart of PostgreSQL does not end the session" "$(root site list east 2>&1)"

# ---- a second instance in the root's namespace: refused, the kernel left alone ----
mkdir -m 700 "$W/root2" && cp -p "$W/root/master.key" "$W/root2/"
timeout 30 ip netns exec "${P}root" "$ROOTD" --id $ROOT_ID --database "$PG_DB" \
	--listen "${ADDR[root]}" --state "$W/root2" --foreground >>"$W/root2.log" 2>&1
[ $? = 1 ] && grep -q "cannot listen for sites: Address already in use" "$W/root2.log"
ok $? "a second instance on the same address is refused" "$(cat "$W/root2.log")"
sleep 2
online && [ "$(current root)" = "$session drop" ]
ok $? "... and the first one's session is untouched" "$(current root)"

# ---- the root killed and started again: a new session ----
kill -9 "$ROOT_PID"; wait "$ROOT_PID" 2>/dev/null
rm -f "$W/root/admin.sock"
start_root
wait_for 90 newer
s2=$(db_session)
[ "$s2" -gt "$session" ] && [ "$(current root)" = "$s2 drop" ] && [ "$(current east)" = "$s2 drop" ]
ok $? "after kill -9 of the root: a new session $s2 (was $session)" \
	"root $(current root), site $(current east); $(tail -n 5 "$W/nmm.log")"

# ---- the site deleted: its link ends, and stays ended ----
root site del east
ok $? "site deleted"
wait_for 30 sh -c "! ip netns exec ${P}root $AKMCTL asr show $PROV >/dev/null 2>&1"
ok $? "the root's kernel dropped the site's provisioning ASR" "$(in_ns root "$AKMCTL" asr show)"
! in_ns root "$AKMCTL" cred show $SITE >/dev/null 2>&1
ok $? "... and its credential" "$(in_ns root "$AKMCTL" cred show 2>&1)"
refused() { grep -q "site $SITE from ${ADDR[east]}: handshake failed: unknown-site" "$W/root.log"; }
wait_for 30 refused
# the root's CHALLENGE for an unknown site proves nothing: the NMM stops there
nmm root show | grep -q "error the root failed to prove it holds this site's credential"
ok $? "the site's NMM is refused, and says so" "$(tail -n 5 "$W/root.log"; nmm root show)"
grep -q "event root-offline root $ROOT_ID" "$W/nmm.log"
ok $? "the NMM says root-offline" "$(grep root- "$W/nmm.log")"

# ---- the NMM forgets the root ----
out=$(nmm asr add 7 alg hmac-sha256 2>&1)
[ $? = 1 ] && grep -q "forget the root ('akmctl nmm root forget')" <<<"$out"
ok $? "an ASR made at the site's NMM is refused" "$out"
nmm root forget && ! nmm root show >/dev/null 2>&1 &&
	! in_ns east "$AKMCTL" asr show $PROV >/dev/null 2>&1 &&
	! in_ns east "$AKMCTL" cred show $ROOT_ID >/dev/null 2>&1
ok $? "root forget: the link, the provisioning ASR and the credential go" \
	"$(nmm root show 2>&1; in_ns east "$AKMCTL" asr show)"
nmm node add n1 id $ROOT_ID addr 10.9.8.20 >/dev/null
ok $? "... and the root's id is free for a node again"

# ---- an instance without --listen exports only with an endpoint ----
kill "$ROOT_PID"; wait "$ROOT_PID" 2>/dev/null
rm -f "$W/root/admin.sock"
ip netns exec "${P}root" "$ROOTD" --id $ROOT_ID --database "$PG_DB" --state "$W/root" \
	--foreground >>"$W/root.log" 2>&1 &
ROOT_PID=$!
wait_for 20 test -S "$W/root/admin.sock"
out=$(root site export west file "$W/west2.bundle" 2>&1)
[ $? = 1 ] && grep -q "does not listen for sites" <<<"$out"
ok $? "no --listen, no endpoint: refused" "$out; $(tail -n 20 "$W/root.log")"
root site export west file "$W/west2.bundle" endpoint 10.9.8.1 >/dev/null &&
	[ -s "$W/west2.bundle" ]
ok $? "no --listen, with an endpoint: exported" "$(ls -l "$W/west2.bundle" 2>&1)"

! grep -E "AddressSanitizer|runtime error" "$W/root.log" "$W/nmm.log"
ok $? "no sanitizer reports"
totals
[ "$fail" = 0 ]
