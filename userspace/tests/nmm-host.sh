#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# akm-nmmd on the host, without the kernel module (--no-kernel), built with
# ASan and UBSan: store, master key, admin commands through akmctl nmm,
# restart, refusal of unknown nodes, rate limit, malformed input, leaks;
# and how 'akm-agent import' reads the transfer code of an exported bundle.
# Prints "ok - NAME" / "not ok - NAME" lines for run.sh.
#
#   userspace/tests/nmm-host.sh [USERSPACE-BUILD-DIR]   (default ../asan)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B=${1:-$(dirname "$HERE")/asan}
NMMD=$B/nmm/akm-nmmd
AGENT=$B/agent/akm-agent
AKMCTL=$B/akmctl/akmctl
T=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
PID=
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=99}

TAG=nmm
ok() { if [ "$1" = 0 ]; then echo "ok - $TAG: $2"; else echo "not ok - $TAG: $2"; [ -z "${3:-}" ] || sed 's/^/#   /' <<<"$3"; fi; }
nmm() { "$AKMCTL" nmm socket "$T/s/admin.sock" "$@"; }
nmmj() { "$AKMCTL" -j nmm socket "$T/s/admin.sock" "$@"; }
start() {
	"$NMMD" --id 1 --listen "127.0.0.1:$PORT" --state "$T/s" --foreground --no-kernel \
		"$@" >>"$T/log" 2>&1 &
	PID=$!
	for _ in $(seq 50); do [ -S "$T/s/admin.sock" ] && return 0; sleep 0.1; done
	return 1
}
stop() {	# exit status of the daemon after SIGTERM
	kill "$PID" 2>/dev/null
	wait "$PID"
	local st=$?
	PID=
	return $st
}
TPM_PID=
cleanup() {
	[ -z "$PID" ] || kill -9 "$PID" 2>/dev/null
	[ -z "$TPM_PID" ] || kill "$TPM_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

"$AKMCTL" nmm socket "$T/none.sock" node list >"$T/out" 2>&1
[ $? = 1 ] && grep -q "cannot reach akm-nmmd at $T/none.sock" "$T/out"
ok $? "akmctl nmm without a daemon: clear error" "$(cat "$T/out")"

start
ok $? "daemon starts" "$(cat "$T/log")"
[ "$(stat -c %a "$T/s/admin.sock")" = 600 ] && [ "$(stat -c %a "$T/s/master.key")" = 600 ] &&
	[ "$(stat -c %s "$T/s/master.key")" = 32 ] && [ "$(stat -c %a "$T/s")" = 700 ]
ok $? "state dir 0700, admin.sock and master.key 0600"
[ "$(sqlite3 "$T/s/nmm.db" 'PRAGMA user_version; PRAGMA journal_mode;' | tr '\n' ' ')" = "9 wal " ]
ok $? "schema version 9 (migrated from 0), WAL"

nmm node add A id 2 addr 10.0.0.2 addr fd00::2 >"$T/out" 2>&1
ok $? "node add" "$(cat "$T/out")"
nmm node add B id 3 addr 10.0.0.3 >/dev/null 2>&1
nmm node add A2 id 2 addr 10.0.0.9 >"$T/out" 2>&1
[ $? = 1 ] && grep -q "exists" "$T/out"
ok $? "node add: duplicate id refused" "$(cat "$T/out")"
for args in "C" "C id 0 addr 10.0.0.1" "C id 4" "C id 4 addr 10.0.0.300" "C/x id 4 addr ::1" \
	"C id 2147483648 addr ::1" "C id 4 addr ::1 bogus 1" "C id 4 addr ::1 addr ::1"; do
	nmm node add $args >"$T/out" 2>&1
	[ $? = 2 ]
	ok $? "node add $args: usage error" "$(cat "$T/out")"
done
nmm node add C id 1 addr 10.0.0.1 >/dev/null 2>&1
ok $(($? != 1)) "node add: the NMM's own id refused"
[ "$(sqlite3 "$T/s/nmm.db" "SELECT length(cred), state FROM nodes WHERE id = 2")" = "72|provisioned" ]
ok $? "credential stored sealed (72 bytes)"

nmm node export A file "$T/a.bundle" >"$T/out" 2>&1 &&
	[ "$(stat -c %s:%a "$T/a.bundle")" = 164:600 ] &&
	grep -qE "^transfer code [A-Z2-7]{20}$" "$T/out"
ok $? "node export: 164-byte bundle (0600) and a transfer code" "$(cat "$T/out")"
nmm node export Z file "$T/z.bundle" >/dev/null 2>&1
ok $(($? != 1)) "node export: unknown node"

# akmctl nmm root import: the checks before anything is kept (a node's
# bundle has the format of a site's; this one is for id 2, the NMM is 1)
code=$(sed -n 's/^transfer code //p' "$T/out")
out=$(printf '%s\n' "$code" | tr 'A-Z2-7' 'B-Z2-7A' | nmm root import "$T/a.bundle" 2>&1)
[ $? = 1 ] && grep -q "wrong transfer code, or the bundle was modified" <<<"$out"
ok $? "root import: a wrong code is refused" "$out"
out=$(nmm root import "$T/a.bundle" </dev/null 2>&1)
[ $? = 1 ] && grep -q "no transfer code (empty input); give the code on standard input or with code-file PATH" <<<"$out"
ok $? "root import: no code: the message says how to give one" "$out"
out=$(printf '%s\n' "$code" | nmm root import "$T/a.bundle" code-file - 2>&1)
[ $? = 1 ] && grep -q "this bundle is for site 2, and this NMM's id is 1" <<<"$out"
ok $? "root import: a bundle for another id is refused" "$out"
out=$(nmm root import /etc/hostname code-file /dev/null 2>&1)
[ $? = 1 ] && grep -q "/etc/hostname: not a bundle" <<<"$out"
ok $? "root import: a file that is no bundle is refused" "$out"
out=$(nmm root import 2>&1)
[ $? = 2 ] && grep -q "root import FILE \[code-file PATH\]" <<<"$out"
ok $? "root import: usage" "$out"
out=$(nmm root show 2>&1)
[ $? = 1 ] && grep -q "no root: import this site's bundle" <<<"$out" &&
	[ "$(sqlite3 "$T/s/nmm.db" "SELECT count(*) FROM uplink")" = 0 ]
ok $? "root import: nothing was kept" "$out"

# akm-agent import: how the transfer code is read. Without akm.ko the import
# stops at the kernel, after the code opened the bundle.
code=$(sed -n 's/^transfer code //p' "$T/out")
TAG=agent
if [ -d /sys/module/akm ]; then
	echo "ok - agent: transfer code input # SKIP akm is loaded: import would change the host"
else
	import() {	# expected-status pattern name [args...] (stdin from the caller)
		local want=$1 pattern=$2 name=$3
		shift 3
		"$AGENT" import "$T/a.bundle" --state "$T/agent" "$@" >"$T/aout" 2>&1
		local st=$?
		[ $st = "$want" ] && grep -q -- "$pattern" "$T/aout"
		ok $? "import: $name" "exit $st, want $want: $(cat "$T/aout")"
	}
	nokern="generic netlink family not found"
	import 2 "use --code-file\|give it with --code-file PATH" "--code CODE refused" \
		--code "$code" </dev/null
	[ ! -e "$T/agent" ]
	ok $? "import: --code refused before anything is done"
	import 2 "give it with --code-file PATH" "--co=CODE (ambiguous) refused" \
		--co="$code" </dev/null
	! grep -qF "$code" "$T/aout"
	ok $? "import: --co=CODE: the code is not echoed" "$(cat "$T/aout")"
	import 2 "give --config once, spelled in full" "--conf FILE refused" --conf /dev/null </dev/null
	printf '%s\n' "$code" >"$T/code"
	import 1 "$nokern" "--code-file PATH opens the bundle" --code-file "$T/code" </dev/null
	printf '%s\n' "${code,,}" | sed 's/..../&-/g; s/-$//' |
		import 1 "$nokern" "--code-file -: one line, lower case with dashes" --code-file -
	printf '%s' "$code" | import 1 "$nokern" "standard input without --code-file"
	printf '%s\n' "$code" | tr 'A-Z2-7' 'B-Z2-7A' |
		import 1 "wrong transfer code, or the bundle was modified" "wrong code refused"
	import 1 "no transfer code (empty input); give the code on standard input" \
		"empty standard input" </dev/null
	printf '%s\n\n' "$code" | import 1 "more than one line" "two lines refused" --code-file -
	printf '%s\r\n' "$code" | import 1 "transfer code is 20 characters" "CRLF refused"
	head -c 300 /dev/zero | tr '\0' A |
		import 1 "longer than 256 characters" "long input refused"
	import 1 "cannot open the code file $T/none" "missing code file" --code-file "$T/none" \
		</dev/null
	# a terminal: prompt, no echo, the terminal restored after a code and after SIGINT
	PYTHONPATH=$HERE python3 - "$AGENT" "$T/a.bundle" "$T/agent" "$code" "$nokern" >"$T/py" 2>&1 <<'PY'
import os, pty, select, signal, subprocess, sys, termios, time
agent, bundle, state, code, nokern = sys.argv[1:]

def run(typed):
    m, s = pty.openpty()
    p = subprocess.Popen([agent, "import", bundle, "--state", state], stdin=s, stdout=s,
                         stderr=s, start_new_session=True)
    out, deadline = b"", time.time() + 30
    def read(until):
        nonlocal out
        while until not in out and time.time() < deadline:
            if select.select([m], [], [], 0.2)[0]:
                try:
                    out += os.read(m, 4096)
                except OSError:
                    break
            elif p.poll() is not None and until != b"":
                break
    read(b"transfer code for " + bundle.encode() + b": ")
    assert b"transfer code for" in out, out
    for _ in range(50):         # echo goes off right after the prompt
        if not termios.tcgetattr(s)[3] & termios.ECHO:
            break
        time.sleep(0.1)
    assert not termios.tcgetattr(s)[3] & termios.ECHO, "echo still on at the prompt"
    if typed is None:
        p.send_signal(signal.SIGINT)
    else:
        os.write(m, typed.encode() + b"\n")
    st = p.wait(timeout=60)
    read(b"\0")
    echo = termios.tcgetattr(s)[3] & termios.ECHO
    os.close(m)
    os.close(s)
    return st, out.decode(errors="replace"), echo

st, out, echo = run(code.lower())
assert st == 1 and nokern in out, (st, out)
assert code.lower() not in out and code not in out, "the code was echoed: " + out
assert echo, "echo not restored after the code"
print("prompt: code read without echo, terminal restored")
st, out, echo = run(None)
assert st == -signal.SIGINT, (st, out)
assert echo, "echo not restored after SIGINT"
print("prompt: SIGINT restores the terminal")
PY
	ok $? "import: a prompt on a terminal without echo, restored after the code and SIGINT" \
		"$(cat "$T/py")"
fi
TAG=nmm

# endpoint forms: the address and port the bundle carries (offset 16, 32)
endpoint() {	# ENDPOINT -> "ADDR PORT" from the bundle, or the error
	nmm node export A file "$T/ep.bundle" endpoint "$1" >"$T/out" 2>&1 ||
		{ cat "$T/out"; return; }
	python3 -c 'import ipaddress, sys; b = open(sys.argv[1], "rb").read()
a = ipaddress.IPv6Address(b[16:32]); a = a.ipv4_mapped or a
print(a, int.from_bytes(b[32:34], "big"))' "$T/ep.bundle"
}
for e in "10.0.0.1=10.0.0.1 $PORT" "10.0.0.1:5000=10.0.0.1 5000" "fd00::1=fd00::1 $PORT" \
	"[fd00::1]=fd00::1 $PORT" "[fd00::1]:6000=fd00::1 6000"; do
	got=$(endpoint "${e%%=*}")
	[ "$got" = "${e#*=}" ]
	ok $? "node export endpoint ${e%%=*}: bundle says ${e#*=}" "$got"
done
nmm node export A file "$T/ep.bundle" endpoint "[fd00::1]:0" >"$T/out" 2>&1
[ $? = 2 ] && grep -q "invalid endpoint '\[fd00::1\]:0': give ADDR, \[ADDR\]" "$T/out"
ok $? "node export endpoint [fd00::1]:0: usage error" "$(cat "$T/out")"

# akmctl writes the bundle, not the daemon (whose unit may not write there)
ln -s "$T/elsewhere" "$T/link.bundle"
nmm node export A file "$T/link.bundle" >"$T/out" 2>"$T/err"
st=$?
[ $st = 1 ] && [ ! -s "$T/out" ] && [ ! -e "$T/elsewhere" ] && [ -L "$T/link.bundle" ] &&
	grep -qxF "akmctl nmm: '$T/link.bundle' exists and is not a regular file" "$T/err"
ok $? "node export onto a symlink: refused, the link kept" "exit $st: $(cat "$T/out" "$T/err")"
nmm node export A file "$T/nodir/a.bundle" >"$T/out" 2>"$T/err"
st=$?
[ $st = 1 ] && [ ! -s "$T/out" ] &&
	grep -qxF "akmctl nmm: cannot write '$T/nodir/a.bundle': No such file or directory" "$T/err"
ok $? "node export into a missing directory: akmctl's error, no code printed" \
	"exit $st: $(cat "$T/out" "$T/err")"

# a relative 'file' is made absolute by akmctl; the daemon refuses one
mkdir "$T/cwd"
(cd "$T/cwd" && nmm node export A file rel.bundle >"$T/out" 2>&1) &&
	[ "$(stat -c %s "$T/cwd/rel.bundle")" = 164 ] && grep -q "file $T/cwd/rel.bundle" "$T/out"
ok $? "node export file REL: written relative to akmctl's directory" "$(cat "$T/out")"
PYTHONPATH=$HERE python3 - "$T/s/admin.sock" >"$T/py" 2>&1 <<'EOF'
import socket, struct, sys
from akmp import tlv
words = [b"node", b"export", b"A", b"file", b"rel.bundle"]
body = tlv(1, b"\0") + b"".join(tlv(2, w) for w in words)
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(struct.pack(">IB", len(body) + 1, 100) + body)
out = b""
while (d := s.recv(4096)):
    out += d
assert b"'file rel.bundle' is a relative path: give an absolute one" in out, out
assert tlv(4, struct.pack(">I", 2)) in out, out
print("refused")
EOF
ok $? "node export: the daemon refuses a relative path" "$(cat "$T/py")"

nmm asr add 1 alg hmac-sha256 name ASR1 grace 5 >/dev/null &&
	nmm asr add-member 1 node A >/dev/null && nmm asr add-member 1 node B >/dev/null
ok $? "asr add, add-member x2"
nmm asr add-member 1 node B >"$T/out" 2>&1
[ $? = 1 ] && grep -q "already in" "$T/out"
ok $? "add-member twice refused" "$(cat "$T/out")"
nmm asr add 1 alg hmac-sha256 >/dev/null 2>&1
ok $(($? != 1)) "asr add: existing id refused"
nmm asr add 2 alg md5 >/dev/null 2>&1
ok $(($? != 2)) "asr add: unknown alg is a usage error"
nmmj asr show 1 | python3 -c '
import json, sys
a = json.load(sys.stdin)
assert a["id"] == 1 and a["name"] == "ASR1" and a["epoch"] == 2, a
assert [m["name"] for m in a["members"]] == ["A", "B"], a
assert all(m["delivery"] == "pending" and m["link"] == "offline" for m in a["members"]), a
assert a["epochs"][0]["members"] == "2 3" and a["epochs"][0]["state"] == "active", a
assert a["epochs"][1]["epoch"] == 1 and a["epochs"][1]["state"] in ("previous", "retired"), a
' 2>"$T/out"
ok $? "asr show -j: epoch 2 active at once (no member online to wait for), A B pending" \
	"$(cat "$T/out")"
nmm asr show 1 | grep -q "^asr 1 name ASR1 epoch 2 alg hmac-sha256 policy drop grace 5$"
ok $? "asr show text"

# the superseded epoch retires after the grace period (5 s)
sqlite3 "$T/s/nmm.db" "UPDATE epochs SET activated = activated - 6"
sleep 2
[ "$(sqlite3 "$T/s/nmm.db" "SELECT epoch || state FROM epochs ORDER BY epoch" | tr '\n' ' ')" = \
	"1retired 2active " ]
ok $? "grace: latest epoch active, superseded one retired" \
	"$(sqlite3 "$T/s/nmm.db" "SELECT * FROM epochs")"

# watch
"$AKMCTL" -j nmm socket "$T/s/admin.sock" watch >"$T/watch" 2>&1 &
WPID=$!
sleep 0.5
nmm asr del-member 1 node B >/dev/null
sleep 0.5
kill $WPID
wait $WPID 2>/dev/null
grep -q '"event":"member-removed","asr":1,"node":3' "$T/watch" &&
	grep -q '"event":"epoch-created","asr":1,"epoch":3,"members":2}' "$T/watch" &&
	! grep -q '^$' "$T/watch" && python3 -c '
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)' "$T/watch"
ok $? "watch streams events as JSON, one object a line" "$(cat "$T/watch")"

# unknown node, rate limit, malformed frames
PYTHONPATH=$HERE python3 - "$PORT" >"$T/py" 2>&1 <<'EOF'
import os, socket, struct, sys
from akmp import frame, hello, recv_frame, tlv
port = int(sys.argv[1])
def handshake(node):
    """HELLO, then AUTH with a made-up proof: (CHALLENGE, WELCOME) as received."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(hello(node))
        ch = recv_frame(s)
        if not ch: return b"", b""
        s.sendall(frame(3, tlv(5, os.urandom(32))))
        return ch, recv_frame(s)
    except (ConnectionResetError, socket.timeout):
        return b"", b""
    finally:
        s.close()
shapes = []
for node in (99, 2):	# unknown, and known (no credential in a kernel: --no-kernel)
    ch, w = handshake(node)
    # CHALLENGE (2) with NONCE and PROOF; after AUTH, WELCOME (4) with STATUS EACCES (13)
    assert ch[0] == 2 and len(ch) == 1 + 2 * 36, ch
    assert w[0] == 4 and tlv(6, struct.pack(">I", 13)) in w, w
    shapes.append((len(ch), w))
assert shapes[0] == shapes[1], shapes
print("unknown and known node ids get the same answers")
for i in range(3):
    handshake(99)
assert handshake(2) == (b"", b"")
print("rate limited")
EOF
ok $? "unknown node: CHALLENGE as a known one gets, EACCES after AUTH; then rate limited" "$(cat "$T/py")"

# 100 addresses that fail 5 times each do not make the NMM forget the first
PYTHONPATH=$HERE python3 - "$PORT" >"$T/py" 2>&1 <<'EOF'
import os, socket, struct, sys
from akmp import frame, hello, tlv
port = int(sys.argv[1])
def attempt(src):
    """HELLO for an unknown node, AUTH with a made-up proof: True if served."""
    s = socket.socket()
    s.settimeout(5)
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(hello(99))
        if not s.recv(4096):
            return False
        s.sendall(frame(3, tlv(5, os.urandom(32))))
        s.recv(4096)
        return True
    except (ConnectionResetError, socket.timeout, BrokenPipeError):
        return False
    finally:
        s.close()
for i in range(1, 101):
    for _ in range(5):
        attempt("127.0.3.%d" % i)
assert not attempt("127.0.3.1"), "the first address was forgotten"
print("the first of 100 failing addresses is still limited")
EOF
ok $? "failure table: a limited address is not evicted by 100 others" "$(cat "$T/py")"

# a peer that keeps sending after it was refused holds nobody up
PYTHONPATH=$HERE python3 - "$PORT" >"$T/py" 2>&1 <<'EOF'
import socket, sys, threading, time
from akmp import frame, hello
port = int(sys.argv[1])
stop = time.monotonic() + 4
def flood():
    s = socket.socket()
    s.bind(("127.0.9.1", 0))
    s.connect(("127.0.0.1", port))
    junk = frame(9, b"") * 4096
    try:
        s.sendall(hello(99, 5) + junk)	# another NMM's id: refused, closing
        while time.monotonic() < stop:
            s.sendall(junk)
    except OSError:
        pass				# closed on us: as it should be
t = threading.Thread(target=flood)
t.start()
time.sleep(1)
s = socket.socket()
s.settimeout(10)
s.bind(("127.0.9.2", 0))
t0 = time.monotonic()
s.connect(("127.0.0.1", port))
s.sendall(hello(99, 1))
ch = s.recv(4096)
dt = time.monotonic() - t0
t.join()
print("CHALLENGE after %.2f s during the flood" % dt)
assert ch and ch[4] == 2 and dt < 1, (ch[:8], dt)
EOF
ok $? "a refused peer that keeps sending holds up no other connection" "$(cat "$T/py")"

PYTHONPATH=$HERE python3 - "$PORT" >"$T/py" 2>&1 <<'EOF'
import os, socket, struct, sys
port = int(sys.argv[1])
for data in [b"\0\0\0\0", b"\xff\xff\xff\xff", struct.pack(">I", 65537), b"\0\0\0\5\1\0\1\0",
             os.urandom(100), struct.pack(">IB", 9, 3) + b"\0\5\0\40abc"]:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.recv(100)
        s.close()
    except OSError:
        pass
print("sent")
EOF
kill -0 "$PID" && nmm node list >/dev/null
ok $? "malformed frames: daemon alive" "$(cat "$T/py"; tail -n 5 "$T/log")"

nmm node del B >/dev/null && nmm node list B >/dev/null 2>&1
ok $(($? != 1)) "node del: B gone"
[ "$(sqlite3 "$T/s/nmm.db" "SELECT state, length(cred) FROM nodes WHERE id = 3")" = "removed|0" ]
ok $? "removed node's credential wiped from the store"

stop
ok $? "SIGTERM: clean exit, no leaks" "$(tail -n 30 "$T/log")"

# back to schema version 1 (no members.revoked, nodes.kernel, uplink, remote, removals,
# reported), to be migrated on start
sqlite3 "$T/s/nmm.db" "DROP INDEX members_node; DROP TABLE leaves; DROP TABLE uplink;
	DROP TABLE removals;
	ALTER TABLE deliveries DROP COLUMN stale; ALTER TABLE deliveries DROP COLUMN failed;
	ALTER TABLE deliveries DROP COLUMN error;
	ALTER TABLE members DROP COLUMN revoked; ALTER TABLE nodes DROP COLUMN kernel;
	ALTER TABLE nodes DROP COLUMN remote; ALTER TABLE nodes DROP COLUMN reported;
	PRAGMA user_version = 1" &&
	[ "$(sqlite3 "$T/s/nmm.db" "PRAGMA user_version")" = 1 ]
ok $? "store downgraded to schema version 1"
start
nmm node export A file "$T/a2.bundle" >/dev/null 2>&1 && nmmj node list | grep -q '"name":"A"'
ok $? "restart: store and master key reused"
[ "$(sqlite3 "$T/s/nmm.db" "PRAGMA user_version; SELECT count(revoked) FROM members; SELECT count(kernel) FROM nodes")" = "$(printf '9\n2\n%s' "$(sqlite3 "$T/s/nmm.db" "SELECT count(*) FROM nodes")")" ] &&
	grep -q "schema migrated to version 2" "$T/log" && grep -q "schema migrated to version 9" "$T/log"
ok $? "restart: schema migrated from version 1 to 9" "$(sqlite3 "$T/s/nmm.db" "PRAGMA user_version; SELECT * FROM members")"
stop

"$NMMD" --id 7 --listen "127.0.0.1:$PORT" --state "$T/s" --foreground --no-kernel >>"$T/log" 2>&1
ok $(($? != 1)) "another NMM id on the same store is refused"

# settings from a configuration file (--config), flags override them
printf '# test\nid = 7\nlisten = 127.0.0.1:%s\nstate = %s\n' "$PORT" "$T/s" >"$T/nmmd.conf"
"$NMMD" --config "$T/nmmd.conf" --foreground --no-kernel >>"$T/log" 2>&1
ok $(($? != 1)) "--config: id 7 from the file (the store is NMM 1's): refused"
"$NMMD" --config "$T/nmmd.conf" --id 1 --foreground --no-kernel >>"$T/log" 2>&1 &
NPID=$!
for _ in $(seq 50); do [ -S "$T/s/admin.sock" ] && break; sleep 0.1; done
nmm node list A >/dev/null 2>&1
ok $? "--config: listen and state from the file, --id 1 from the command line"
kill "$NPID"
wait "$NPID"
printf 'listen = 127.0.0.1\n' >"$T/noid.conf"
"$NMMD" --config "$T/noid.conf" --foreground --no-kernel >"$T/out" 2>&1
st=$?
[ $st = 2 ] && grep -qxF "akm-nmmd: no node id: set 'id = N' in $T/noid.conf or give --id" "$T/out"
ok $? "no id: the message names the setting and the file" "exit $st: $(cat "$T/out")"
"$NMMD" --conf "$T/nmmd.conf" --foreground --no-kernel >"$T/out" 2>&1
[ $? = 2 ] && grep -qxF "akm-nmmd: give --config once, spelled in full" "$T/out"
ok $? "--conf FILE (abbreviated) refused" "$(cat "$T/out")"
printf 'id = 1\nlisten 127.0.0.1\n' >"$T/bad.conf"
"$NMMD" --config "$T/bad.conf" --foreground --no-kernel >"$T/out" 2>&1
st=$?
[ $st = 2 ] && grep -qxF "akm-nmmd: $T/bad.conf:2: expected KEY = VALUE, not 'listen 127.0.0.1'" "$T/out"
ok $? "--config: a bad line is refused with its number" "exit $st: $(cat "$T/out")"
"$NMMD" --config "$T/none.conf" --version >"$T/out" 2>&1
[ $? = 2 ] && grep -qF "$T/none.conf: No such file or directory" "$T/out"
ok $? "--config: a missing file is refused" "$(cat "$T/out")"

# detached, with a relative state directory
(cd "$T" && "$NMMD" --id 1 --listen "127.0.0.1:$PORT" --state s --no-kernel)
for _ in $(seq 50); do [ -S "$T/s/admin.sock" ] && break; sleep 0.1; done
DPID=$(pgrep -n -f "akm-nmmd --id 1 --listen 127.0.0.1:$PORT --state s")
nmm node list A >/dev/null 2>&1 && [ -n "$DPID" ] && grep -q "listening" "$T/s/nmmd.log"
ok $? "detached daemon, relative --state, log in nmmd.log" "$(cat "$T/s/nmmd.log" 2>&1)"
(cd "$T/cwd" && nmm node export A file detached.bundle >"$T/out" 2>&1) &&
	[ -s "$T/cwd/detached.bundle" ] && [ ! -e /detached.bundle ]
ok $? "detached daemon: node export file REL lands in akmctl's directory, not in /" \
	"$(cat "$T/out")"
[ -z "$DPID" ] || { kill "$DPID"; for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done; }

# a store with secrets and no master key: refused, no second key
mv "$T/s/master.key" "$T/master.key.bak"
timeout 10 "$NMMD" --id 1 --listen "127.0.0.1:$PORT" --state "$T/s" --foreground --no-kernel \
	>"$T/out" 2>&1
st=$?
want="master key: $T/s/master.key is missing, but $T/s/nmm.db holds secrets sealed under it:"
want="$want restore $T/s/master.key from a backup; a new master key would not open them"
[ $st = 1 ] && [ ! -e "$T/s/master.key" ] && grep -qF "$want" "$T/out"
ok $? "master.key missing with secrets in the store: refused, none made" "exit $st: $(cat "$T/out")"
mv "$T/master.key.bak" "$T/s/master.key"

head -c 32 /dev/urandom >"$T/s/master.key"
start
nmm node export A file "$T/a3.bundle" >"$T/out" 2>&1
[ $? = 1 ] && [ ! -e "$T/a3.bundle" ]
ok $? "wrong master key: export fails, nothing written" "$(cat "$T/out")"
stop

chmod 644 "$T/s/master.key"
"$NMMD" --id 1 --listen "127.0.0.1:$PORT" --state "$T/s" --foreground --no-kernel >>"$T/log" 2>&1
ok $(($? != 1)) "master.key readable by others is refused"

# master key sealed to a TPM 2.0 (swtpm), if the tools are there
tpm_start() {	# dir port
	mkdir -p "$1"
	swtpm socket --tpmstate dir="$1" --tpm2 --server type=tcp,port="$2" \
		--ctrl type=tcp,port=$(($2 + 1)) --flags not-need-init,startup-clear \
		>>"$T/swtpm.log" 2>&1 &
	TPM_PID=$!
	sleep 0.5
}
if ! command -v swtpm >/dev/null || ! command -v tpm2_unseal >/dev/null; then
	echo "ok - nmm: TPM-sealed master key # SKIP swtpm or tpm2-tools missing"
else
	TPORT=$((PORT + 7))
	export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$TPORT"
	rm -rf "$T/s"
	tpm_start "$T/tpm1" "$TPORT"
	start --tpm && nmm node add A id 2 addr 10.0.0.2 >/dev/null &&
		[ -e "$T/s/master.tpm.pub" ] && [ ! -e "$T/s/master.key" ] &&
		[ "$(stat -c %a "$T/s/master.tpm.priv")" = 600 ]
	ok $? "--tpm: master key created and sealed to the TPM" "$(tail -n 5 "$T/log")"
	stop
	start --tpm && nmm node export A file "$T/t.bundle" >/dev/null 2>&1
	ok $? "--tpm: unsealed again after a restart; secrets decrypt" "$(tail -n 5 "$T/log")"
	stop
	mkdir "$T/tpm-bak" && mv "$T/s/master.tpm.pub" "$T/s/master.tpm.priv" "$T/tpm-bak/"
	timeout 10 "$NMMD" --id 1 --listen "127.0.0.1:$PORT" --state "$T/s" --foreground \
		--no-kernel --tpm >"$T/out" 2>&1
	[ $? = 1 ] && [ ! -e "$T/s/master.tpm.pub" ] &&
		grep -q "master.tpm.pub is missing, .* restore master.tpm.pub and master.tpm.priv" \
			"$T/out"
	ok $? "--tpm: sealed master key missing with secrets in the store: refused" \
		"$(cat "$T/out")"
	mv "$T/tpm-bak/"* "$T/s/"
	"$NMMD" --id 1 --listen "127.0.0.1:$PORT" --state "$T/s" --foreground --no-kernel \
		>>"$T/log" 2>&1
	ok $(($? != 1)) "a TPM-sealed store is refused without --tpm"
	kill "$TPM_PID"
	wait "$TPM_PID" 2>/dev/null
	tpm_start "$T/tpm2" "$TPORT"
	"$NMMD" --id 1 --listen "127.0.0.1:$PORT" --state "$T/s" --foreground --no-kernel \
		--tpm >>"$T/log" 2>&1
	ok $(($? != 1)) "--tpm: another TPM cannot unseal the master key"
	kill "$TPM_PID"
	wait "$TPM_PID" 2>/dev/null
fi
