# Count the test results in (possibly nested) kselftest TAP output.
#
#   awk -f scripts/tap-count.awk FILE...
#
# Prints "FAILED: <line>" for every "not ok" line (for the report only), then
# "PASS FAIL SKIP" as the last line. The counting rule:
#
# 1. If the output has kselftest_harness summary lines
#    "# Totals: pass:P fail:F xfail:XF xpass:XP skip:S error:E", only those
#    count (one per test program; tests/run_tests.sh prints one on behalf of
#    a program that crashed, timed out or was missing, and one with fail:1
#    for a program that exited non-zero after a clean Totals line):
#    passed += P + XF + XP, failed += F + E, skipped += S. If they appear at
#    several nesting levels ("# " prefixes), only the outermost level counts,
#    so a program that aggregates its children's Totals is not counted twice.
#    The "ok N"/"not ok N" lines are then not counted: they are the per-case
#    lines behind those Totals, and the per-program lines of the runner.
#
# 2. Otherwise every leaf result line counts: an "ok N ..." / "not ok N ..."
#    line (at any nesting level) for which no result line of a deeper level
#    came since the previous result of its own level. A result line closing a
#    nested block only summarizes it and does not count, except that a
#    "not ok" over a block without a counted failure (a program that crashed
#    after passing tests) counts as one failure. "# SKIP"/"# TODO" results
#    count as skipped.
function reset_below(d,   i) {
	for (i = d; i <= maxd; i++) { kids[i] = 0; kidfail[i] = 0 }
}
function field(s, key,   i, n, a, kv) {
	n = split(s, a, /[ \t]+/)
	for (i = 1; i <= n; i++) {
		split(a[i], kv, ":")
		if (kv[1] == key && kv[2] ~ /^[0-9]+$/) return kv[2] + 0
	}
	return 0
}
BEGIN { pass = 0; fail = 0; skip = 0; maxd = 0; reset_below(0); tmin = -1 }
{
	sub(/\r+$/, "")
	line = $0
	d = 0
	while (substr(line, 1, 1) == "#") {
		if (substr(line, 1, 2) == "# ") line = substr(line, 3)
		else line = substr(line, 2)
		d++
		sub(/^[ \t]+/, "", line)
	}
	if (line ~ /^Totals: pass:[0-9]+ fail:[0-9]+/) {
		tp[d] += field(line, "pass") + field(line, "xfail") + field(line, "xpass")
		tf[d] += field(line, "fail") + field(line, "error")
		ts[d] += field(line, "skip")
		if (tmin < 0 || d < tmin) tmin = d
		next
	}
	if (line !~ /^(not )?ok( [0-9]+)?([ \t]|$)/) next
	if (d > maxd) { for (i = maxd + 1; i <= d; i++) { kids[i] = 0; kidfail[i] = 0 } maxd = d }
	isnot = (line ~ /^not ok/)
	isskip = (line ~ /#[ \t]*([Ss][Kk][Ii][Pp]|[Tt][Oo][Dd][Oo])/)
	if (isnot && !isskip) print "FAILED: " $0
	counted_fail = 0
	if (kids[d] > 0) {
		# summary of a nested block
		if (isnot && !isskip && kidfail[d] == 0) { fail++; counted_fail = 1 }
	} else if (isskip) {
		skip++
	} else if (isnot) {
		fail++; counted_fail = 1
	} else {
		pass++
	}
	for (i = 0; i < d; i++) { kids[i]++; if (counted_fail) kidfail[i]++ }
	reset_below(d)
}
END {
	if (tmin >= 0) print tp[tmin], tf[tmin], ts[tmin]
	else print pass, fail, skip
}
