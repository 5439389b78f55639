#!/bin/bash
# Guest side of bench/run.sh: runs inside the VM started by scripts/vm-run.sh
# (akm.ko already inserted, $OUT writable, the host root read-only).
#
# Builds ONE veth pair between two network namespaces (a: 10.0.0.1, b:
# 10.0.0.2) and, on it, measures every configuration in turn, tearing each
# down before the next:
#
#   plain-nomod  no authentication, akm.ko unloaded (rmmod; skipped if that fails)
#   plain        no authentication, akm.ko loaded with no ASR  (ratio base)
#   akm-hmac     AKM, hmac-sha256
#   akm-chacha   AKM, chacha20-poly1305
#   ah           IPsec AH, transport, hmac(sha256) truncated to 128 bits
#   esp-gmac     IPsec ESP, transport, rfc4543(gcm(aes)) (AES-128, ICV 128)
#   wg           WireGuard, wg0 in each namespace, endpoints over the veth
#   plain-fw     no authentication, a stateful nftables firewall in a and b
#   akm-fw       AKM chacha20-poly1305 behind the same firewalls
#
# Each configuration runs these tests (client in a, server in b):
#
#   tcp      iperf3 TCP, one stream, $T_TCP s (+1 s omitted)
#   udp1400  iperf3 UDP -l 1400 -b 0, $T_UDP s: received Mbit/s and loss
#   udp64    iperf3 UDP -l 64 -b 0, $T_UDP s: received packets/s and loss
#   rr       ping -f (56-byte payload) for $T_RR s: echo round trips per
#            second, one in flight (a request/response rate)
#
# The whole sequence is repeated $REPS times, the configuration order rotated
# each round; bench/report.py takes medians. Raw results go to $OUT/raw/,
# a log to $OUT/bench.log, system facts to $OUT/sysinfo.txt.
#
# Environment (set on the host; vm-run.sh passes AKM_* through):
#   AKM_BENCH_REPS (3), AKM_BENCH_T_TCP (10), AKM_BENCH_T_UDP (5),
#   AKM_BENCH_T_RR (5), AKM_BENCH_BUDGET (seconds; start no round that would end later), AKM_BENCH_CONFIGS (all, space separated),
#   AKM_BENCH_AKMCTL (akmctl binary), AKM_BENCH_MODULE (akm.ko, for reloading)
set -u

REPS=${AKM_BENCH_REPS:-3}
BUDGET=${AKM_BENCH_BUDGET:-}
T_TCP=${AKM_BENCH_T_TCP:-10}
T_UDP=${AKM_BENCH_T_UDP:-5}
T_RR=${AKM_BENCH_T_RR:-5}
CONFIGS=${AKM_BENCH_CONFIGS:-plain-nomod plain akm-hmac akm-chacha ah esp-gmac wg plain-fw akm-fw}
AKMCTL=${AKM_BENCH_AKMCTL:-$PWD/userspace/akmctl/akmctl}
MODULE=${AKM_BENCH_MODULE:-}
OUT=${OUT:?run me through scripts/vm-run.sh}
RAW=$OUT/raw
PY=/usr/bin/python3
PORT=5201

mkdir -p "$RAW"
rm -f "$RAW"/* "$OUT/bench.log" "$OUT/checks.tsv" "$OUT/events.txt"
exec > >(tee -a "$OUT/bench.log") 2>&1

log() { echo "[$(date +%T)] $*"; }
A() { ip netns exec a "$@"; }
B() { ip netns exec b "$@"; }
# check CFG ROUND OK|FAIL TEXT: a sanity check, reported in the results
check() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$OUT/checks.tsv"; log "check $1 r$2: $3 $4"; }
# event TEXT: something the reader must know (kernel warnings, failures)
event() { echo "$*" >>"$OUT/events.txt"; log "EVENT: $*"; }
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# kernel messages worth reporting (and the boot noise that is not)
KMSG_BAD='BUG|WARNING|Oops|general protection|soft lockup|hard LOCKUP|rcu.*stall|hung_task|blocked for more than|refcount_t|UBSAN|KASAN|list_(add|del) corruption|akm'
KMSG_OK='[Cc]ommand line:|akm: loading out-of-tree|akm: module verification failed|Key type akm (un)?registered|MP-BIOS bug'
dmesg_mark=0
dmesg_check() { # CONTEXT: report new kernel warnings since the last call
	local n new
	dmesg >/tmp/dmesg.now
	n=$(wc -l </tmp/dmesg.now)
	new=$(tail -n +"$((dmesg_mark + 1))" /tmp/dmesg.now)
	dmesg_mark=$n
	new=$(grep -E "$KMSG_BAD" <<<"$new" | grep -vE "$KMSG_OK")
	[ -z "$new" ] || event "$1: kernel messages: $(head -n 8 <<<"$new" | tr '\n' '|')"
}

sysinfo() {
	{
		echo "kernel: $(uname -r) ($(uname -v))"
		echo "vcpus: $(nproc)"
		echo "mem_kb: $(awk '/MemTotal/ {print $2}' /proc/meminfo)"
		echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
		echo "cpu_flags: $(awk -F': ' '/^flags/ {print $2; exit}' /proc/cpuinfo)"
		echo "iperf3: $(iperf3 --version | head -n 1)"
		echo "wg: $(wg --version 2>&1 | head -n 1)"
		echo "cmdline: $(cat /proc/cmdline)"
		echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
		echo "reps: $REPS"
		echo "t_tcp: $T_TCP"
		echo "t_udp: $T_UDP"
		echo "t_rr: $T_RR"
		echo "configs: $CONFIGS"
	} >"$OUT/sysinfo.txt"
}

# The crypto drivers the kernel picked (after the configurations ran).
crypto_drivers() {
	$PY - <<'EOF' >>"$OUT/sysinfo.txt"
want = {"hmac(sha256)", "sha256", "rfc4543(gcm(aes))", "gcm(aes)", "aes", "ghash",
        "chacha20", "poly1305", "rfc7539(chacha20,poly1305)"}
cur = {}
best = {}
for line in open("/proc/crypto"):
    if ":" not in line:
        if cur.get("name") in want:
            n = cur["name"]
            p = int(cur.get("priority", "0"))
            if n not in best or p > best[n][0]:
                best[n] = (p, cur.get("driver", "?"))
        cur = {}
        continue
    k, v = [s.strip() for s in line.split(":", 1)]
    cur[k] = v
for n in sorted(best):
    print("crypto: %s -> %s (priority %d)" % (n, best[n][1], best[n][0]))
EOF
}

setup_link() {
	ip netns add a && ip netns add b || return 1
	ip link add va netns a type veth peer name vb netns b || return 1
	A ip addr add 10.0.0.1/24 dev va
	B ip addr add 10.0.0.2/24 dev vb
	A ip link set lo up; B ip link set lo up
	A ip link set va up; B ip link set vb up
	A ping -c 1 -W 5 10.0.0.2 >/dev/null
}

# ---- configurations: cfg_up_NAME sets DST; cfg_down_NAME; cfg_verify_NAME ROUND

DST=10.0.0.2

cfg_up_plain() { DST=10.0.0.2; }
cfg_down_plain() { :; }
cfg_verify_plain() { :; }

cfg_up_plain-nomod() {
	DST=10.0.0.2
	rmmod akm || { event "plain-nomod: rmmod akm failed, row skipped"; return 1; }
}
cfg_down_plain-nomod() {
	insmod "$MODULE" || { event "insmod $MODULE failed after rmmod"; return 1; }
}
cfg_verify_plain-nomod() { :; }

akm_up() { # ALG
	local n id e
	DST=10.0.0.2
	[ -s /tmp/akm.key ] || head -c 32 /dev/urandom >/tmp/akm.key
	# a namespace never takes an epoch twice (its counter would restart)
	e=$(($(cat /tmp/akm.epoch 2>/dev/null || echo 0) + 1))
	echo $e >/tmp/akm.epoch
	for n in a b; do
		id=$([ $n = a ] && echo 1 || echo 2)
		ip netns exec $n "$AKMCTL" node set id $id &&
		ip netns exec $n "$AKMCTL" asr add 1 alg "$1" &&
		ip netns exec $n "$AKMCTL" member add asr 1 node 1 addr 10.0.0.1 state active &&
		ip netns exec $n "$AKMCTL" member add asr 1 node 2 addr 10.0.0.2 state active &&
		ip netns exec $n "$AKMCTL" key install asr 1 epoch $e file /tmp/akm.key &&
		ip netns exec $n "$AKMCTL" key activate asr 1 epoch $e || return 1
	done
	A "$AKMCTL" stats reset >/dev/null 2>&1
	B "$AKMCTL" stats reset >/dev/null 2>&1
	return 0
}
akm_down() {
	A "$AKMCTL" asr del 1; B "$AKMCTL" asr del 1
	rm -f /tmp/akm.key
}
akm_verify() { # CFG ROUND
	A "$AKMCTL" -j stats >"$RAW/r$2-$1-stats-a.json" 2>&1
	B "$AKMCTL" -j stats >"$RAW/r$2-$1-stats-b.json" 2>&1
	A "$AKMCTL" stats >"$RAW/r$2-$1-stats-a.txt" 2>&1
	B "$AKMCTL" stats >"$RAW/r$2-$1-stats-b.txt" 2>&1
}
cfg_up_akm-hmac() { akm_up hmac-sha256; }
cfg_down_akm-hmac() { akm_down; }
cfg_verify_akm-hmac() { akm_verify akm-hmac "$1"; }
cfg_up_akm-chacha() { akm_up chacha20-poly1305; }
cfg_down_akm-chacha() { akm_down; }
cfg_verify_akm-chacha() { akm_verify akm-chacha "$1"; }

# The most ordinary host firewall, in both namespaces: conntrack on every packet.
fw_up() {
	local n
	for n in a b; do
		ip netns exec $n nft -f - <<-'NFT' || return 1
		table inet fw {
			chain input {
				type filter hook input priority 0; policy drop;
				iif lo accept
				ct state established,related accept
				tcp dport 5201 accept
				udp dport 5201 accept
				icmp type echo-request accept
			}
		}
		NFT
	done
}
fw_down() { A nft delete table inet fw; B nft delete table inet fw; }
cfg_up_plain-fw() { DST=10.0.0.2; fw_up; }
cfg_down_plain-fw() { fw_down; }
cfg_verify_plain-fw() { :; }
cfg_up_akm-fw() { fw_up && akm_up chacha20-poly1305; }
cfg_down_akm-fw() { akm_down; fw_down; }
cfg_verify_akm-fw() { akm_verify akm-fw "$1"; }

xfrm_up() { # PROTO ALGSPEC...: transport-mode SAs both ways, policies in and out
	local proto=$1 n l r; shift
	local k1=$1 k2=$2; shift 2
	DST=10.0.0.2
	for n in a b; do
		# anti-replay on, with AKM's window size (2048)
		ip -n $n xfrm state add src 10.0.0.1 dst 10.0.0.2 proto "$proto" spi 0x1001 reqid 1 \
			replay-window 2048 mode transport $k1 || return 1
		ip -n $n xfrm state add src 10.0.0.2 dst 10.0.0.1 proto "$proto" spi 0x1002 reqid 2 \
			replay-window 2048 mode transport $k2 || return 1
		if [ $n = a ]; then l=10.0.0.1 r=10.0.0.2; else l=10.0.0.2 r=10.0.0.1; fi
		ip -n $n xfrm policy add src $l dst $r dir out \
			tmpl proto "$proto" mode transport reqid $([ $n = a ] && echo 1 || echo 2) || return 1
		ip -n $n xfrm policy add src $r dst $l dir in \
			tmpl proto "$proto" mode transport reqid $([ $n = a ] && echo 2 || echo 1) || return 1
	done
}
xfrm_stat() { # CFG ROUND SUFFIX
	A cat /proc/net/xfrm_stat >"$RAW/r$2-$1-xfrmstat-a$3.txt" 2>&1
	B cat /proc/net/xfrm_stat >"$RAW/r$2-$1-xfrmstat-b$3.txt" 2>&1
}
xfrm_down() {
	local n
	for n in a b; do
		ip -n $n xfrm policy flush
		ip -n $n xfrm state flush
	done
}
xfrm_verify() { # CFG ROUND
	A ip -s xfrm state >"$RAW/r$2-$1-xfrm-a.txt" 2>&1
	B ip -s xfrm state >"$RAW/r$2-$1-xfrm-b.txt" 2>&1
	xfrm_stat "$1" "$2" ""
}
cfg_up_ah() {
	xfrm_stat ah "$1" -before
	xfrm_up ah "auth-trunc hmac(sha256) 0x$(hex 32) 128" "auth-trunc hmac(sha256) 0x$(hex 32) 128"
}
cfg_down_ah() { xfrm_down; }
cfg_verify_ah() { xfrm_verify ah "$1"; }
cfg_up_esp-gmac() {
	xfrm_stat esp-gmac "$1" -before
	# 16-byte AES key + 4-byte salt, 128-bit ICV
	xfrm_up esp "aead rfc4543(gcm(aes)) 0x$(hex 20) 128" "aead rfc4543(gcm(aes)) 0x$(hex 20) 128"
}
cfg_down_esp-gmac() { xfrm_down; }
cfg_verify_esp-gmac() { xfrm_verify esp-gmac "$1"; }

cfg_up_wg() {
	local n
	DST=10.1.0.2
	for n in a b; do
		(umask 077 && wg genkey >/tmp/wg-$n.key && wg pubkey </tmp/wg-$n.key >/tmp/wg-$n.pub) || return 1
	done
	ip -n a link add wg0 type wireguard && ip -n b link add wg0 type wireguard || return 1
	A wg set wg0 listen-port 51820 private-key /tmp/wg-a.key \
		peer "$(cat /tmp/wg-b.pub)" allowed-ips 10.1.0.2/32 endpoint 10.0.0.2:51820 || return 1
	B wg set wg0 listen-port 51820 private-key /tmp/wg-b.key \
		peer "$(cat /tmp/wg-a.pub)" allowed-ips 10.1.0.1/32 endpoint 10.0.0.1:51820 || return 1
	# 1440: a 1428-byte IPv4 packet (UDP -l 1400) padded to 16 bytes plus the
	# 60 bytes of outer IPv4/UDP/WireGuard headers fits the 1500-byte veth.
	A ip addr add 10.1.0.1/24 dev wg0; B ip addr add 10.1.0.2/24 dev wg0
	A ip link set wg0 mtu 1440 up; B ip link set wg0 mtu 1440 up
	# handshake now, not inside a measurement
	A ping -c 2 -W 5 10.1.0.2 >/dev/null || return 1
}
cfg_down_wg() {
	ip -n a link del wg0; ip -n b link del wg0
	rm -f /tmp/wg-*.key /tmp/wg-*.pub
}
cfg_verify_wg() {
	{ echo "a $(A wg show wg0 transfer)"; echo "b $(B wg show wg0 transfer)"; } >"$RAW/r$1-wg-wg.txt" 2>&1
}

# Nothing of the previous configuration may be left.
assert_clean() { # CONTEXT
	local left=
	[ -z "$(A ip xfrm state; B ip xfrm state; A ip xfrm policy; B ip xfrm policy)" ] || left+=" xfrm"
	A ip link show wg0 >/dev/null 2>&1 && left+=" wg0(a)"
	B ip link show wg0 >/dev/null 2>&1 && left+=" wg0(b)"
	if grep -q '^akm ' /proc/modules; then
		[ "$(A "$AKMCTL" -j asr show 2>/dev/null | tr -d ' \n')" = "[]" ] || left+=" akm-asr(a)"
		[ "$(B "$AKMCTL" -j asr show 2>/dev/null | tr -d ' \n')" = "[]" ] || left+=" akm-asr(b)"
	else
		left+=" akm.ko-not-loaded"
	fi
	[ -z "$left" ] || event "$1: left behind after teardown:$left"
}

# ---- tests

SRV=
iperf_server() { # start a server in b (one per configuration), wait until it listens
	local i
	B iperf3 -s -p $PORT >/dev/null 2>&1 &
	SRV=$!
	for i in $(seq 100); do
		B ss -ltnH "sport = :$PORT" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}
iperf_server_stop() {
	[ -n "$SRV" ] || return 0
	kill "$SRV" 2>/dev/null
	wait "$SRV" 2>/dev/null
	SRV=
}

run_iperf() { # FILE ARGS...: client in a
	local f=$1 t; shift
	t=$(( $(sed -n 's/.*-t \([0-9]*\).*/\1/p' <<<"$*") + 60 ))
	if [ -z "$SRV" ] && ! iperf_server; then
		event "iperf3 server did not start"
		echo '{"error":"server did not start"}' >"$f"
		return 1
	fi
	timeout "$t" ip netns exec a iperf3 -c "$DST" -p $PORT -J "$@" >"$f" 2>"$f.err"
	local rc=$?
	[ $rc = 124 ] && event "iperf3 $* to $DST stalled (killed after ${t}s)"
	[ $rc = 0 ] || iperf_server_stop	# a fresh server for the next test
	return $rc
}

run_tests() { # CFG ROUND
	local p="$RAW/r$2-$1"
	log "  tcp"
	run_iperf "$p-tcp.json" -t "$T_TCP" -O 1
	log "  udp1400"
	run_iperf "$p-udp1400.json" -u -l 1400 -b 0 -t "$T_UDP"
	log "  udp64"
	run_iperf "$p-udp64.json" -u -l 64 -b 0 -t "$T_UDP"
	iperf_server_stop
	log "  rr"
	timeout $((T_RR + 30)) ip netns exec a ping -f -q -w "$T_RR" "$DST" >"$p-rr.txt" 2>&1
	# counters since the configuration came up (per-namespace nstat history)
	NSTAT_HISTORY=/tmp/nstat.a A nstat >"$p-nstat-a.txt" 2>&1
	NSTAT_HISTORY=/tmp/nstat.b B nstat >"$p-nstat-b.txt" 2>&1
}

run_config() { # CFG ROUND
	local c=$1 r=$2
	log "round $r: $c"
	assert_clean "before $c (round $r)"
	if ! "cfg_up_$c" "$r"; then
		event "$c (round $r): setup failed"
		"cfg_down_$c" 2>/dev/null
		return
	fi
	# Connectivity first: a configuration that does not pass traffic is no result.
	if timeout 20 ip netns exec a ping -c 3 -i 0.2 -W 5 "$DST" >/tmp/ping.txt 2>&1; then
		check "$c" "$r" OK "ping $DST"
		NSTAT_HISTORY=/tmp/nstat.a A nstat -n >/dev/null 2>&1
		NSTAT_HISTORY=/tmp/nstat.b B nstat -n >/dev/null 2>&1
		run_tests "$c" "$r"
	else
		check "$c" "$r" FAIL "no connectivity to $DST: $(tail -n 2 /tmp/ping.txt | tr '\n' ' ')"
	fi
	"cfg_verify_$c" "$r"
	"cfg_down_$c"
	dmesg_check "$c (round $r)"
}

# ---- main

log "bench on $(uname -r), $(nproc) vCPUs; reps $REPS; tcp ${T_TCP}s udp ${T_UDP}s rr ${T_RR}s"
[ -x "$AKMCTL" ] || { log "no akmctl at $AKMCTL"; exit 1; }
grep -q '^akm ' /proc/modules || { log "akm.ko is not loaded"; exit 1; }
[ -n "$MODULE" ] && [ -f "$MODULE" ] || CONFIGS=${CONFIGS/plain-nomod/}
modprobe -a xfrm_user ah4 esp4 wireguard 2>/dev/null
# What udev's CPU-feature autoloading does on a real machine (the guest has no
# udev): without it the crypto API settles on the generic C implementations.
for m in aesni_intel ghash_clmulni_intel sha256_ssse3 chacha_x86_64 poly1305_x86_64; do
	modprobe "$m" 2>/dev/null || log "modprobe $m failed (CPU without the feature?)"
done
sysinfo
dmesg_check "boot"
setup_link || { event "cannot set up the veth pair"; exit 1; }
start=$SECONDS

read -ra cfgs <<<"$CONFIGS"
for r in $(seq "$REPS"); do
	# the VM has a hard timeout: only start a round that will fit
	if [ "$r" -gt 1 ] && [ -n "$BUDGET" ]; then
		per=$(( (SECONDS - start) / (r - 1) ))
		if [ $(( SECONDS - start + per + per / 5 )) -gt "$BUDGET" ]; then
			event "time budget: stopped after $((r - 1)) of $REPS rounds (${per} s per round, budget ${BUDGET} s)"
			break
		fi
	fi
	# rotate the order each round so that slow drifts do not favour one configuration
	n=${#cfgs[@]}
	for i in $(seq 0 $((n - 1))); do
		run_config "${cfgs[$(( (i + r - 1) % n ))]}" "$r"
	done
done

crypto_drivers
echo "duration_s: $((SECONDS - start))" >>"$OUT/sysinfo.txt"
dmesg_check "end"
grep -q '^akm ' /proc/modules || event "akm.ko not loaded at the end"
ip netns del a; ip netns del b
log "done in $((SECONDS - start)) s"
exit 0
