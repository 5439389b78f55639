# Count the results in TAP output, nested TAP included (kselftest style:
# a nested level is prefixed with "# ").
#
# Rule: a result line ("ok N ..." / "not ok N ...") counts when it is a leaf,
# i.e. no result lines of a deeper level came since the previous result line
# of its own level. A result line that closes a nested block (like
# "ok 1 selftests: akm: akm_node" after the program's own "# ok 1 ..."
# lines) is only a summary of those and does not count again, except that a
# "not ok" summary over a block without any counted failure (a program that
# crashed or exited non-zero after passing tests) counts as one failure.
# "# SKIP" (and "# TODO") results count as skipped. "# Totals:" lines of
# kselftest_harness are summaries of the per-test lines and are not used.
#
# Prints "PASS FAIL SKIP" on the last line; every failing result is printed
# before it as "FAILED: <line>".
function reset_below(d,   i) {
	for (i = d; i <= maxd; i++) { kids[i] = 0; kidfail[i] = 0 }
}
BEGIN { pass = 0; fail = 0; skip = 0; maxd = 0; reset_below(0) }
{
	sub(/\r+$/, "")
	line = $0
	d = 0
	while (substr(line, 1, 1) == "#") {
		if (substr(line, 1, 2) == "# ") line = substr(line, 3)
		else line = substr(line, 2)
		d++
	}
	if (line !~ /^(not )?ok( [0-9]+)?([ \t]|$)/) next
	if (d > maxd) { for (i = maxd + 1; i <= d; i++) { kids[i] = 0; kidfail[i] = 0 } maxd = d }
	isnot = (line ~ /^not ok/)
	isskip = (line ~ /#[ \t]*([Ss][Kk][Ii][Pp]|[Tt][Oo][Dd][Oo])/)
	counted_fail = 0
	if (kids[d] > 0) {
		# summary of a nested block
		if (isnot && !isskip && kidfail[d] == 0) { fail++; counted_fail = 1; print "FAILED: " $0 }
	} else if (isskip) {
		skip++
	} else if (isnot) {
		fail++; counted_fail = 1; print "FAILED: " $0
	} else {
		pass++
	}
	for (i = 0; i < d; i++) { kids[i]++; if (counted_fail) kidfail[i]++ }
	reset_below(d)
}
END { print pass, fail, skip }
