#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# The examples of Documentation/admin-guide.md against the code, in the VM
# with akm.ko loaded, as root, from the repository root. TAP, ends with a
# kselftest Totals line; exit status 0 if nothing failed. An argument names
# another copy of the guide to check (e.g. to see the test fail).
#
# A session block is a fenced block with lines starting with "$ ": each such
# line is a command, the lines up to the next "$ " (or the block's end) its
# documented output, stdout and stderr together. The sections of CHECKED run
# every session block they hold, each block in a fresh network namespace
# (ip netns exec NS sh -c CMD, "akmctl" being userspace/akmctl/akmctl, in a
# fresh temporary directory), after the setup they name: the first ```sh
# block of "A node, an ASR, members, keys" (which writes k1 and k2 there).
# Every block is one result; a difference is shown as a unified diff of the
# normalised transcripts, followed by the real output as run. Exit
# statuses of documented commands are not checked (refusals fail on
# purpose); every setup command must exit 0. COMMAND_BLOCKS lists ```sh
# blocks whose commands must all succeed after the setup ("Changing and
# removing"); their output is not documented and not compared.
#
# Normalised on both sides before comparing:
#   - key and keyring serials: the documented numbers are tied to their keys
#     by the examples themselves (node show's keyring, key/asr show's serial,
#     keyctl show and describe lines, /proc/keys' hexadecimal serials), the
#     real ones by akmctl -j node/key/cred show; both become <keyring>,
#     <asr:A:epoch:E>, <cred:N>, so the examples must agree with each other
#     (one result checks that the guide uses one number per key). Documented
#     serials in commands are replaced by the real ones before running;
#   - timestamps (ISO 8601 in text, "created"/"activated" seconds in JSON),
#     akm:net:<netns inode>, node generation counters;
#   - runs of blanks (column widths follow the serials' widths);
#   - "grep ... /proc/keys": the real lines of other namespaces' keyrings
#     (root sees them all) are left out, and lines are compared as sets
#     (/proc/keys is ordered by the random serials); the lines of "keyctl
#     show" are compared as sets too (a keyring lists its keys in hash
#     order).
# "..." in a documented output line matches any text; a line that is just
# "..." any number of lines (used by "# abbreviated" examples, compared by
# what they show).
#
# Not run: the sections of SKIPPED (one SKIP result per block, with the
# reason), the ```sh blocks of Build, Load (module loading), "In a real
# network" (nftables), Tests and the VM harness, and the akmctl synopsis.
# A session block in a section neither checked nor skipped is a failure:
# every new example must be classified here.
import difflib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = os.path.join(ROOT, "Documentation", "admin-guide.md")
AKMCTL = os.path.join(ROOT, "userspace", "akmctl", "akmctl")

SETUP = ("A node, an ASR, members, keys", 0)	# (section, index of its ```sh block)
# section heading -> the setup its session blocks run after (None: none)
CHECKED = {
	"The per-namespace model": None,
	"A node, an ASR, members, keys": SETUP,
	"The keyring": SETUP,
}
SKIPPED = {
	"Events": "akmctl monitor runs until interrupted, and its cred and "
		  "auth-failure lines need a credential and traffic between nodes",
}
# (section, index of its ```sh block): all its commands succeed after SETUP
COMMAND_BLOCKS = [("A node, an ASR, members, keys", 1)]

CMD_TIMEOUT = 60
ENV = dict(os.environ, LC_ALL="C", LANG="C",
	   PATH=os.path.dirname(AKMCTL) + ":" + os.environ.get(
		   "PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))


# ---------------------------------------------------------------- the guide

class Block:
	def __init__(self, section, info, lineno, lines):
		self.section, self.info, self.lineno, self.lines = section, info, lineno, lines

	def is_session(self):
		return any(l.startswith("$ ") for l in self.lines)


def parse_guide(path):
	blocks, section, fence, body, start = [], "", None, [], 0
	with open(path, encoding="utf-8") as f:
		for no, line in enumerate(f, 1):
			line = line.rstrip("\n")
			if fence is None:
				m = re.match(r"^(`{3,})\s*(\S*)", line)
				if m:
					fence, info, body, start = m.group(1), m.group(2), [], no
					continue
				m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
				if m:
					section = m.group(1)
			elif line.strip() == fence:
				blocks.append(Block(section, info, start, body))
				fence = None
			else:
				body.append(line)
	return blocks


def strip_comment(cmd):
	"""The command without a trailing "# ..." comment (outside quotes)."""
	quote = None
	for i, c in enumerate(cmd):
		if quote:
			if c == quote:
				quote = None
		elif c in "'\"":
			quote = c
		elif c == "#" and (i == 0 or cmd[i - 1] in " \t"):
			return cmd[:i].rstrip()
	return cmd.rstrip()


def join_continued(lines):
	out = []
	for l in lines:
		if out and out[-1].endswith("\\"):
			out[-1] = out[-1][:-1] + " " + l.strip()
		else:
			out.append(l)
	return out


def session(block):
	"""[(command as written, [documented output lines])]"""
	steps = []
	for l in join_continued(block.lines):
		if l.startswith("$ "):
			steps.append((l[2:], []))
		elif steps:
			steps[-1][1].append(l)
	return steps


def sh_commands(block):
	cmds = [strip_comment(l) for l in join_continued(block.lines)]
	return [c for c in cmds if c.strip()]


# ------------------------------------------------------------ serial numbers

def doc_serials(blocks):
	"""[(number, key description)] that the examples tie together."""
	pairs = []

	def kr(desc):
		return "keyring" if re.match(r"\.?akm:net:", desc) else desc

	for b in blocks:
		asr = None
		for l in b.lines:
			m = re.match(r"^(?:\$ )?asr (\d+)\b", l)
			if m:
				asr = m.group(1)
			for m in re.finditer(r"\bkeyring (\d{3,})", l):
				pairs.append((int(m.group(1)), "keyring"))
			for m in re.finditer(r'"keyring":(\d+)', l):
				pairs.append((int(m.group(1)), "keyring"))
			for m in re.finditer(r"\basr (\d+) epoch (\d+) state \S+ serial (\d+)", l):
				pairs.append((int(m.group(3)), f"asr:{m.group(1)}:epoch:{m.group(2)}"))
			m = re.match(r"^\s+key epoch (\d+) state \S+ serial (\d+)", l)
			if m and asr:
				pairs.append((int(m.group(2)), f"asr:{asr}:epoch:{m.group(1)}"))
			for m in re.finditer(r'"asr":(\d+),"epoch":(\d+),"state":"\w+","serial":(\d+)', l):
				pairs.append((int(m.group(3)), f"asr:{m.group(1)}:epoch:{m.group(2)}"))
			for m in re.finditer(r"\bcred (\d+) serial (\d+)", l):
				pairs.append((int(m.group(2)), f"cred:{m.group(1)}"))
			# keyctl show, keyctl describe
			m = re.match(r"^\s*(\d{3,}):? +[-a-z]+ +\d+ +\d+ +(?:\\_ )?(akm|keyring): (\S+)", l)
			if m:
				pairs.append((int(m.group(1)), kr(m.group(3))))
			# /proc/keys
			m = re.match(r"^([0-9a-f]{8}) \S+ +\d+ +\S+ +[0-9a-f]{8} +\d+ +\d+ +(akm|keyring) +(\S+):(?:\s|$)", l)
			if m:
				pairs.append((int(m.group(1), 16), kr(m.group(3))))
	return pairs


def real_serials(ns, smap):
	"""Add this namespace's keyring and key serials to smap (number -> key)."""
	def j(*args):
		p = subprocess.run(["ip", "netns", "exec", ns, AKMCTL, "-j", *args],
				   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
				   env=ENV, timeout=CMD_TIMEOUT)
		try:
			return json.loads(p.stdout)
		except ValueError:
			return None
	node = j("node", "show")
	if isinstance(node, dict) and node.get("keyring"):
		smap[int(node["keyring"])] = "keyring"
	for k in j("key", "show") or []:
		smap[int(k["serial"])] = f"asr:{k['asr']}:epoch:{k['epoch']}"
	for c in j("cred", "show") or []:
		smap[int(c["serial"])] = f"cred:{c['id']}"


def normalise(line, smap):
	line = re.sub(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>", line)
	line = re.sub(r'"(created|activated)":[1-9]\d*', r'"\1":<time>', line)
	line = re.sub(r"\bakm:net:\d+", "akm:net:<inode>", line)
	line = re.sub(r"\bgeneration \d+", "generation <n>", line)
	line = re.sub(r'"generation":\d+', '"generation":<n>', line)

	def serial(m):
		w = m.group(0)
		if w.isdigit() and int(w) in smap:
			return f"<{smap[int(w)]}>"
		if len(w) == 8 and int(w, 16) in smap:
			return f"<{smap[int(w, 16)]}>"
		return w
	line = re.sub(r"(?<![\w<])[0-9a-f]{3,10}(?![\w>])", serial, line)
	return re.sub(r"[ \t]+", " ", line).strip()


# ----------------------------------------------------------------- matching

def line_matches(exp, act):
	if "..." not in exp:
		return exp == act
	pattern = ".*".join(re.escape(p) for p in exp.split("..."))
	return re.fullmatch(pattern, act) is not None


def lines_match(exp, act):
	@functools.lru_cache(maxsize=None)
	def m(i, j):
		if i == len(exp):
			return j == len(act)
		if exp[i] == "...":
			return any(m(i + 1, k) for k in range(j, len(act) + 1))
		return j < len(act) and line_matches(exp[i], act[j]) and m(i + 1, j + 1)
	return m(0, 0)


# ------------------------------------------------------------------ running

class Namespace:
	n = 0

	def __init__(self):
		Namespace.n += 1
		self.name = f"akmdoc{os.getpid()}-{Namespace.n}"
		self.dir = tempfile.mkdtemp(prefix="akm-docs.")
		subprocess.run(["ip", "netns", "add", self.name], check=True)

	def run(self, cmd):
		try:
			p = subprocess.run(["ip", "netns", "exec", self.name, "sh", "-c", cmd],
					   cwd=self.dir, env=ENV, stdin=subprocess.DEVNULL,
					   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
					   timeout=CMD_TIMEOUT)
		except subprocess.TimeoutExpired as e:
			out = (e.output or b"").decode(errors="replace")
			return 124, out + f"(timed out after {CMD_TIMEOUT} s)\n"
		return p.returncode, p.stdout.decode(errors="replace")

	def close(self):
		subprocess.run(["ip", "netns", "del", self.name])
		shutil.rmtree(self.dir, ignore_errors=True)


class Tap:
	def __init__(self):
		self.n = self.passed = self.failed = self.skipped = 0
		print("TAP version 13", flush=True)

	def result(self, ok, name, diag=""):
		self.n += 1
		if ok:
			self.passed += 1
			print(f"ok {self.n} - {name}")
		else:
			self.failed += 1
			print(f"not ok {self.n} - {name}")
			lines = diag.rstrip("\n").split("\n") if diag else []
			for l in lines[:150]:
				print(f"# {l}".rstrip())
			if len(lines) > 150:
				print(f"# ... {len(lines) - 150} more lines")
		sys.stdout.flush()

	def skip(self, name, why):
		self.n += 1
		self.skipped += 1
		print(f"ok {self.n} - {name} # SKIP {why}", flush=True)

	def totals(self):
		print(f"1..{self.n}")
		print(f"# Totals: pass:{self.passed} fail:{self.failed} xfail:0 xpass:0 "
		      f"skip:{self.skipped} error:0", flush=True)


def run_setup(ns, setup):
	"""None, or why the setup failed."""
	for cmd in setup:
		rc, out = ns.run(cmd)
		if rc != 0:
			return f"setup command failed (exit status {rc}):\n$ {cmd}\n{out}"
	return None


def check_session(tap, name, steps, setup, docmap):
	ns = Namespace()
	try:
		why = run_setup(ns, setup)
		if why:
			tap.result(False, name, why)
			return
		smap = {}
		real_serials(ns.name, smap)
		exp_t, act_t, raw, ok = [], [], [], True
		for written, doc_out in steps:
			cmd = strip_comment(written)
			real_of = {v: k for k, v in smap.items()}

			def subst(m):
				key = docmap.get(int(m.group(0)))
				return str(real_of[key]) if key in real_of else m.group(0)
			cmd = re.sub(r"\b\d{3,}\b", subst, cmd)
			rc, out = ns.run(cmd)
			real_serials(ns.name, smap)
			act = [normalise(l, smap) for l in out.rstrip("\n").split("\n")] if out else []
			exp = [normalise(l, docmap) for l in doc_out]
			if "/proc/keys" in cmd:
				act = sorted(l for l in act if l.startswith("<"))
				exp = sorted(exp)
			elif re.match(r"keyctl show\b", cmd):
				# a keyring's links are listed in its hash order
				act, exp = sorted(act), sorted(exp)
			ok = lines_match(exp, act) and ok
			exp_t += ["$ " + written] + exp
			act_t += ["$ " + written] + act
			raw += ["$ " + cmd] + (out.rstrip("\n").split("\n") if out else [])
		diag = ""
		if not ok:
			diag = "\n".join(difflib.unified_diff(exp_t, act_t, "documented", "real",
							      lineterm=""))
			diag += "\n--- real output, as run:\n" + "\n".join(raw)
		tap.result(ok, name, diag)
	finally:
		ns.close()


def check_commands(tap, name, cmds, setup):
	ns = Namespace()
	try:
		why = run_setup(ns, setup)
		if not why:
			for cmd in cmds:
				rc, out = ns.run(cmd)
				if rc != 0:
					why = f"exit status {rc}:\n$ {cmd}\n{out}"
					break
		tap.result(not why, name, why or "")
	finally:
		ns.close()


def guarded(tap, name, fn, *args):
	"""fn(*args), which reports one result; an exception is a failure."""
	n = tap.n
	try:
		fn(*args)
	except Exception as e:	# one broken block must not lose the others
		if tap.n == n:
			tap.result(False, name, f"{type(e).__name__}: {e}")


def title(section, steps):
	first = strip_comment(steps[0][0]) if steps else "(empty)"
	return f"{section}: {first}" + (" ..." if len(steps) > 1 else "")


def main():
	tap = Tap()
	why = None
	if os.geteuid() != 0:
		why = "not root"
	elif not os.access(AKMCTL, os.X_OK):
		why = "akmctl not built"
	elif not os.path.isdir("/sys/module/akm"):
		why = "akm.ko not loaded"
	elif not shutil.which("ip"):
		why = "no ip(8)"
	if why:
		tap.skip("admin-guide examples", why)
		tap.totals()
		return 0

	blocks = parse_guide(sys.argv[1] if len(sys.argv) > 1 else GUIDE)

	def sh_block(section, index):
		found = [b for b in blocks if b.section == section and b.info == "sh"]
		return found[index] if index < len(found) else None

	setup_block = sh_block(*SETUP)
	if not setup_block:
		tap.result(False, "the setup block exists",
			   f"no ```sh block {SETUP[1]} under '{SETUP[0]}'")
		tap.totals()
		return 1
	setup = sh_commands(setup_block)

	# the documented serial numbers, one per key
	pairs = doc_serials(blocks)
	docmap, conflicts = {}, []
	for num, key in pairs:
		if docmap.get(num, key) != key:
			conflicts.append(f"{num} is both {docmap[num]} and {key}")
		docmap.setdefault(num, key)
	per_key = {}
	for num, key in docmap.items():
		per_key.setdefault(key, set()).add(num)
	for key, nums in sorted(per_key.items()):
		if len(nums) > 1:
			conflicts.append(f"{key} has serials {', '.join(map(str, sorted(nums)))}")
	tap.result(not conflicts, "the examples use one serial number per key",
		   "\n".join(conflicts))

	seen = set()
	for b in blocks:
		if not b.is_session():
			continue
		steps = session(b)
		name = title(b.section, steps) + f" (line {b.lineno})"
		seen.add(b.section)
		if b.section in SKIPPED:
			tap.skip(name, SKIPPED[b.section])
		elif b.section in CHECKED:
			s = setup if CHECKED[b.section] else []
			guarded(tap, name, check_session, tap, name, steps, s, docmap)
		else:
			tap.result(False, name, f"a session example in section '{b.section}', "
				   f"line {b.lineno}, is neither in CHECKED nor in SKIPPED of tests/docs.py")
	missing = [s for s in list(CHECKED) + list(SKIPPED) if s not in seen]
	if missing:
		tap.result(False, "every listed section has examples",
			   "no session block in: " + ", ".join(missing))

	for section, index in COMMAND_BLOCKS:
		b = sh_block(section, index)
		name = f"{section}: the commands of ```sh block {index + 1} succeed"
		if not b:
			tap.result(False, name, "no such block")
			continue
		name += f" (line {b.lineno})"
		guarded(tap, name, check_commands, tap, name, sh_commands(b), setup)

	tap.totals()
	return 1 if tap.failed else 0


if __name__ == "__main__":
	sys.exit(main())
