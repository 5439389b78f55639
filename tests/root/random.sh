#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Random sequences of akmctl root commands through two instances, checked
# against a model after every step (tests/root/random.py: each command made
# or refused as the model says, every ASR's epoch and members the model's);
# every 25 steps an instance is killed (-9) and started again, or the
# PostgreSQL server restarted, or nothing. Then the database's invariants.
#
#   tests/root/random.sh [STEPS]      (root; AKM_ROOT_SEED=N repeats a run)
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SEED=${AKM_ROOT_SEED:-$RANDOM}
STEPS=${1:-300}
echo "# seed $SEED (AKM_ROOT_SEED=$SEED repeats this run)"
root_setup root-random
start 1 && install -m 600 -D "$T/r1/master.key" "$T/r2/master.key" && start 2
ok $? "two instances" "$(cat "$T/r1.log" "$T/r2.log")"
disown -a	# the hook kills them: no job notices

# the hook random.py runs every 25 steps: 0 kills and restarts an instance,
# 1 restarts the server, 2 does nothing
cat >"$T/hook" <<EOF
#!/bin/bash
. "$top/tests/root/lib.sh"
T=$T PG_DIR=$PG_DIR PG_PORT=$PG_PORT PG_DB="$PG_DB"
case \$1 in
0)	i=\$((1 + RANDOM % 2))
	pkill -9 -f -- "--state $T/r\$i " ; sleep 0.2; rm -f "$T/r\$i/admin.sock"
	start \$i >/dev/null 2>&1 ;;
1)	pg_restart fast ;;
esac
exit 0
EOF
chmod +x "$T/hook"
python3 "$top/tests/root/random.py" "$SEED" "$STEPS" "$T/r1/admin.sock" "$T/r2/admin.sock" \
	"$T/hook" | tee "$T/random.tap" | grep -v "^ok \|^1\.\.\|^# Totals"
st=${PIPESTATUS[0]}
got=$(grep -c "^ok " "$T/random.tap")
bad=$(grep -A20 "^not ok" "$T/random.tap")
[ "$st" = 0 ] && [ -z "$bad" ]
ok $? "$STEPS random steps: $got checks, each command and each ASR as the model says" \
	"exit $st; $bad"
invariants "after the random steps"
no_reports
totals
[ "$fail" = 0 ]
