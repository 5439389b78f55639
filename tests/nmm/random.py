#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# A randomized, seeded convergence test of akm-nmmd and akm-agent. In the VM
# with akm.ko loaded, as root:
#
#   tests/nmm/random.py [--seed N] [--ops N] [--nodes N] [--deadline SEC]
#   scripts/vm-run.sh --module build/$K/akm.ko --timeout 9000 -- tests/nmm/random.py --ops 2000
#
# The NMM and N node namespaces (default 6) on one bridge, as in
# tests/nmm/e2e.sh; three overlapping ASRs (1, 2, 3, chacha20-poly1305). A
# model of what the NMM should hold (nodes, addresses, members and revoked
# members of each ASR, which agents run) drives a random sequence of
# operations drawn from random.Random(seed): membership changes (most of
# them), node add/del/re-add, agents killed, stopped and started, the NMM
# killed and restarted, and bad input, which must fail with a message and
# change nothing. "# seed N" is always the first line: --seed N repeats the
# same sequence.
#
# Every 1 to 5 operations, at a quiet point, the test waits (--deadline,
# default 20 s: a correct system converges in a few seconds even under TCG,
# so the NMM's 30-second activation fallback never converges it) until
#   [1] every online member of each ASR has the NMM's epoch as its kernel's
#       current key,
#   [4] no member's delivery failed, and every online member's is
#       "activated",
#   [5] node list and ASR members agree with the model (online = agent
#       running),
# then checks traffic (whether or not it converged):
#   [2] every pair of online nodes that share an ASR pings, and each
#       kernel's member entry of the other counts the packets as sent and
#       received (tagged, not plain);
#   [3] every removed pair (shared an ASR, shares none now, and one of them,
#       online, is a member of an ASR in which the other is revoked; at most
#       8 per quiet point, a sample) fails to ping both ways, and a
#       receiver counts a drop: the member drop_plain of the revoked node or
#       drop_not_member of the ASR listing it, or the revoked node (whose
#       kernel may have missed its LEAVE while offline) drop_plain of the
#       member. A pair where neither holds the other revoked (both left) is
#       not protected by design.
# After --give-up quiet points in a row (default 3) that did not converge,
# the run stops: the failures after that repeat the first ones.
#
# TAP: a result per invariant family and quiet point ([0]: the operations
# since the previous one were accepted and no daemon died), one per bad
# input, a summary as comments, the kselftest Totals line. Exit status 0 if
# nothing failed, 1 if something did, 4 if skipped. Logs (nmm.log,
# agent-NAME.log) go to $OUT/nmm-random/ when OUT is set.
import os
import sys

# This file is random.py: its directory leaves the module path before the
# standard library's random is imported (here, and by tempfile).
HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != HERE]

import argparse
import collections
import json
import random
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

US = os.path.join(os.path.dirname(os.path.dirname(HERE)), "userspace")
NMMD = os.environ.get("AKM_NMMD", os.path.join(US, "nmm", "akm-nmmd"))
AGENT = os.environ.get("AKM_AGENT", os.path.join(US, "agent", "akm-agent"))
AKMCTL = os.environ.get("AKM_AKMCTL", os.path.join(US, "akmctl", "akmctl"))

PREFIX = "akmrnd-"		# namespaces and host veth ends
BRIDGE = "akmrndbr"
NMM_ID = 1
NMM_NS = PREFIX + "nmm"
NMM_ADDR = "10.77.0.1"
ASRS = (1, 2, 3)
ALG = "chacha20-poly1305"
PROV_ASR = 0x80000000		# provisioning ASRs: this bit | node id
BAD_ID = 60000			# ids, names and addresses of bad input: nobody's
MAX_OFFLINE = 2			# live nodes with their agent down at once
EXTRA_NODES = 3			# node add: at most --nodes + this many live nodes
KEEP_DELETED = 3		# namespaces of deleted nodes kept for [3]
QP_EVERY = (1, 5)		# operations between two quiet points
REMOVED_PAIRS_MAX = 8		# [3]: checked per quiet point (a sample)
SETUP_DEADLINE = 120

# operation kind -> weight; membership changes dominate
WEIGHTS = {
	"add-member": 20, "del-member": 14, "move": 10, "readd-member": 5,
	"node-add": 4, "node-del": 3, "node-readd": 3,
	"agent-kill": 5, "agent-stop": 3, "agent-start": 8, "nmm-restart": 3,
	"bad-input": 12,
}

FAMILIES = {
	0: "operations accepted, daemons alive",
	1: "every online member's kernel sends with the NMM's epoch",
	2: "online pairs sharing an ASR exchange authenticated traffic",
	3: "removed pairs are dropped",
	4: "no failed delivery, no online member pending",
	5: "node list and ASR members agree with the model",
}

# lines of the logs shown with a failure
NMM_EVIDENCE = re.compile(r"delivery-failed|cannot|failed|kernel: |installed (\d+) of (?!\1\b)\d+")
AGENT_EVIDENCE = re.compile(r"not installed|cannot|refused|failed|error", re.I)


def node_addr(nid):
	return f"10.77.{nid >> 8}.{nid & 255}"


def sh(*cmd, timeout=120):
	"""Run a command; (exit status, stdout, stderr)."""
	try:
		p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
	except subprocess.TimeoutExpired:
		return 124, "", f"timed out after {timeout} s"
	return p.returncode, p.stdout, p.stderr


def run_many(cmds, timeout=60):
	"""Run the commands (key -> argv) at the same time; key -> (status, stdout, stderr)."""
	procs = {k: subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
		 for k, c in cmds.items()}
	end = time.monotonic() + timeout
	res = {}
	for k, p in procs.items():
		try:
			out, err = p.communicate(timeout=max(1, end - time.monotonic()))
			res[k] = (p.returncode, out, err)
		except subprocess.TimeoutExpired:
			p.kill()
			out, err = p.communicate()
			res[k] = (124, out, err + f"timed out after {timeout} s")
	return res


def ns_exec(ns, *cmd):
	return ["ip", "netns", "exec", ns, *cmd]


def clock():
	return time.strftime("%H:%M:%SZ", time.gmtime())


class Tap:
	def __init__(self, seed):
		self.seed = seed
		self.n = self.passed = self.failed = self.skipped = 0
		self.failures = []		# (step, name)

	def result(self, ok, name, step, diag=()):
		self.n += 1
		if ok:
			self.passed += 1
			print(f"ok {self.n} - {name}", flush=True)
			return
		self.failed += 1
		self.failures.append((step, name))
		print(f"not ok {self.n} - {name}")
		print(f"# seed {self.seed} step {step}:")
		diag = list(diag)
		for line in diag[:40]:
			print(f"#   {line}".rstrip())
		if len(diag) > 40:
			print(f"#   ... {len(diag) - 40} more")
		sys.stdout.flush()

	def skip(self, name, why):
		self.n += 1
		self.skipped += 1
		print(f"ok {self.n} - {name} # SKIP {why}", flush=True)

	def totals(self):
		print(f"1..{self.n}")
		print(f"# Totals: pass:{self.passed} fail:{self.failed} xfail:0 xpass:0 "
		      f"skip:{self.skipped} error:0", flush=True)


class Node:
	"""A node of the model, with its namespace and its agent process."""

	def __init__(self, nid):
		self.id = nid
		self.name = f"n{nid}"
		self.addr = node_addr(nid)
		self.ns = PREFIX + self.name
		self.live = False	# added to the NMM and not deleted
		self.has_ns = False
		self.agent = None	# Popen of its running agent
		self.log = None

	@property
	def running(self):
		return self.agent is not None


class Model:
	"""What the NMM should hold, and which agents run."""

	def __init__(self):
		self.nodes = {}		# name -> Node: live ones, and deleted ones
		self.members = {a: set() for a in ASRS}
		self.revoked = {a: set() for a in ASRS}
		self.shared = set()	# frozenset pairs that shared an ASR

	def live(self):
		return sorted(n for n, x in self.nodes.items() if x.live)

	def online(self):
		return [n for n in self.live() if self.nodes[n].running]

	def online_members(self, a):
		return sorted(n for n in self.members[a] if self.nodes[n].running)

	def asrs_of(self, name):
		return [a for a in ASRS if name in self.members[a]]

	def add_member(self, a, name):
		self.members[a].add(name)
		self.revoked[a].discard(name)
		self.shared |= {frozenset((name, o)) for o in self.members[a] if o != name}

	def del_member(self, a, name):
		self.members[a].discard(name)
		self.revoked[a].add(name)

	def node_deleted(self, name):
		for a in self.asrs_of(name):
			self.del_member(a, name)
		self.nodes[name].live = False

	def node_added(self, name):
		"""node add; of a removed node's name and id, the NMM forgets the old one."""
		for a in ASRS:
			self.revoked[a].discard(name)
		self.shared = {p for p in self.shared if name not in p}
		self.nodes[name].live = True

	def sharing_pairs(self):
		on = self.online()
		return [(x, y) for i, x in enumerate(on) for y in on[i + 1:]
			if set(self.asrs_of(x)) & set(self.asrs_of(y))]

	def holders(self, x, y):
		"""(holder, revoked, asr): an online member of asr holding the other revoked."""
		return [(h, o, a) for h, o in ((x, y), (y, x)) for a in ASRS
			if h in self.members[a] and o in self.revoked[a] and self.nodes[h].running]

	def removed_pairs(self):
		pairs = []
		for p in sorted(tuple(sorted(p)) for p in self.shared):
			x, y = p
			if not (self.nodes[x].has_ns and self.nodes[y].has_ns):
				continue
			if set(self.asrs_of(x)) & set(self.asrs_of(y)):
				continue
			if self.holders(x, y):
				pairs.append(p)
		return pairs


class Lab:
	"""The real system: namespaces, the NMM, the agents, the temporary directory."""

	def __init__(self):
		self.w = tempfile.mkdtemp(prefix="akm-nmm-random.")
		self.sock = os.path.join(self.w, "nmm", "admin.sock")
		self.nmm_log = os.path.join(self.w, "nmm.log")
		self.nmm_proc = None
		self.nmm_logf = None
		self.namespaces = []
		self.agents = []	# every Node whose agent this run started

	def network(self):
		# left over by a killed run
		links = re.findall(r"^\d+: ([^:@]+)", sh("ip", "-o", "link", "show")[1], re.M)
		for name in [n for n in links if n.startswith(PREFIX)] + [BRIDGE]:
			sh("ip", "link", "del", name)
		left = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
		for ns in [n for n in left if n.startswith(PREFIX)]:
			sh("ip", "netns", "del", ns)
		for cmd in (("ip", "link", "add", BRIDGE, "type", "bridge"),
			    ("ip", "link", "set", BRIDGE, "up")):
			rc, _, err = sh(*cmd)
			if rc:
				return f"{' '.join(cmd)}: {err.strip()}"
		return self.add_namespace(NMM_NS, NMM_ADDR)

	def add_namespace(self, ns, addr):
		"""A namespace with eth0 at addr, its peer (named ns too) on the bridge;
		None, or what failed."""
		self.namespaces.append(ns)
		for cmd in (("ip", "netns", "add", ns),
			    ("ip", "link", "add", ns, "type", "veth", "peer", "name", "eth0",
			     "netns", ns),
			    ("ip", "link", "set", ns, "master", BRIDGE, "up"),
			    ns_exec(ns, "ip", "addr", "add", addr + "/16", "dev", "eth0"),
			    ns_exec(ns, "ip", "link", "set", "eth0", "up"),
			    ns_exec(ns, "ip", "link", "set", "lo", "up")):
			rc, _, err = sh(*cmd)
			if rc:
				return f"{' '.join(cmd)}: {err.strip()}"
		return None

	def del_namespace(self, ns):
		sh("ip", "link", "del", ns)	# at once; after netns del it goes in the background
		sh("ip", "netns", "del", ns)
		self.namespaces.remove(ns)

	def start_nmm(self):
		"""None, or why the NMM does not answer."""
		self.nmm_logf = open(self.nmm_log, "a")
		self.nmm_proc = subprocess.Popen(
			ns_exec(NMM_NS, NMMD, "--id", str(NMM_ID), "--listen", NMM_ADDR,
				"--state", os.path.join(self.w, "nmm"), "--foreground"),
			stdout=self.nmm_logf, stderr=subprocess.STDOUT)
		end = time.monotonic() + 30
		while time.monotonic() < end:
			if self.nmm_proc.poll() is not None:
				return f"akm-nmmd exited with status {self.nmm_proc.returncode}"
			if self.nmm("node", "list")[0] == 0:
				return None
			time.sleep(0.2)
		return "akm-nmmd does not answer on its admin socket within 30 s"

	def stop_nmm(self, sig):
		self.nmm_proc.send_signal(sig)
		self.nmm_proc.wait()
		self.nmm_logf.close()
		self.nmm_proc = None

	def nmm_cmd(self, *args, json_out=False):
		return [AKMCTL] + (["-j"] if json_out else []) + ["nmm", "socket", self.sock] + \
			[str(a) for a in args]

	def nmm(self, *args):
		return sh(*self.nmm_cmd(*args))

	def start_agent(self, node):
		node.log = open(os.path.join(self.w, f"agent-{node.name}.log"), "a")
		# ip netns exec execs the agent: the Popen is the agent itself
		node.agent = subprocess.Popen(
			ns_exec(node.ns, AGENT, "run", "--state", os.path.join(self.w, node.name), "-v"),
			stdout=node.log, stderr=subprocess.STDOUT)
		if node not in self.agents:
			self.agents.append(node)

	def stop_agent(self, node, sig):
		node.agent.send_signal(sig)
		node.agent.wait()
		node.agent = None
		node.log.close()

	def cleanup(self):
		for node in self.agents:
			if node.running:
				self.stop_agent(node, signal.SIGTERM)
		if self.nmm_proc:
			self.stop_nmm(signal.SIGTERM)
		for ns in list(self.namespaces):
			self.del_namespace(ns)
		sh("ip", "link", "del", BRIDGE)
		out = os.environ.get("OUT")
		if out:
			dest = os.path.join(out, "nmm-random")
			shutil.rmtree(dest, ignore_errors=True)
			os.makedirs(dest)
			for f in os.listdir(self.w):
				if f.endswith(".log"):
					shutil.copy(os.path.join(self.w, f), dest)
		shutil.rmtree(self.w, ignore_errors=True)


class Observation:
	"""One look at the kernels of some nodes, and at the NMM unless nmm is False."""

	def __init__(self, lab, model, names, nmm=True):
		cmds = {"asrs": lab.nmm_cmd("asr", "show", json_out=True),
			"nodes": lab.nmm_cmd("node", "list", json_out=True)} if nmm else {}
		for n in names:
			cmds[n] = [AKMCTL, "-n", model.nodes[n].ns, "-j", "asr", "show"]
		res = run_many(cmds)
		self.errors = {}	# what could not be read -> why
		self.asrs = self.nodes = None
		if nmm:
			self.asrs = self.parse(res, "asrs", lambda d: {a["id"]: a for a in d})
			self.nodes = self.parse(res, "nodes", lambda d: {x["name"]: x for x in d})
		# name -> asr id -> the kernel's ASR (provisioning ASRs left out)
		self.kernel = {n: self.parse(res, n, lambda d: {a["id"]: a for a in d
								if a["id"] < PROV_ASR})
			       for n in names}

	def parse(self, res, key, shape):
		rc, out, err = res[key]
		try:
			if rc == 0:
				return shape(json.loads(out))
		except (ValueError, KeyError, TypeError) as e:
			err = f"{e}: {out[:200]}"
		self.errors[key] = f"exit status {rc}: {err.strip()}"
		return None

	def current(self, name, asr):
		"""The kernel's current epochs of asr (None: no such ASR)."""
		a = (self.kernel.get(name) or {}).get(asr)
		return None if a is None else [k["epoch"] for k in a["keys"] if k["state"] == "current"]

	def counter(self, name, asr, counter, member=None):
		a = (self.kernel.get(name) or {}).get(asr)
		if a is None:
			return 0
		if member is None:
			return a["stats"].get(counter, 0)
		for m in a["members"]:
			if m["node"] == member:
				return m["stats"].get(counter, 0)
		return 0


class Run:
	def __init__(self, args, seed, tap, lab):
		self.args, self.seed, self.tap, self.lab = args, seed, tap, lab
		self.rng = random.Random(seed)
		self.model = Model()
		self.step = 0
		self.next_id = 2
		self.bad_seq = 0
		self.deleted = []	# deleted nodes whose namespace is kept, oldest first
		self.counts = collections.Counter()
		self.conv_times = []
		self.unconverged = []	# steps
		self.stuck = 0		# quiet points in a row that did not converge
		self.quiet = False	# converged at the last quiet point, nothing changed since
		self.since = 0		# step of the last quiet point
		self.op_errors = []	# failures of operations since the last quiet point
		self.log_marks = {}	# log file -> offset at the last quiet point

	# ---------------------------------------------------------------- helpers

	def admin(self, *args):
		"""A command that must succeed; False (and recorded) if it did not."""
		rc, out, err = self.lab.nmm(*args)
		if rc:
			self.op_errors.append(f"step {self.step}: akmctl nmm {' '.join(map(str, args))}: "
					      f"exit status {rc}: {err.strip() or out.strip()}")
		return rc == 0

	def new_node(self):
		"""A new node id, name and namespace (None if that failed)."""
		nid = self.next_id
		self.next_id += 1
		if nid & 255 in (0, 255):
			return self.new_node()
		node = Node(nid)
		self.model.nodes[node.name] = node
		why = self.lab.add_namespace(node.ns, node.addr)
		if why:
			self.op_errors.append(f"step {self.step}: namespace of {node.name}: {why}")
			return None
		node.has_ns = True
		return node

	def provision(self, nodes):
		"""node add and export on the NMM, import on each node; the nodes that made it."""
		codes = {}
		for node in nodes:
			path = os.path.join(self.lab.w, node.name + ".bundle")
			if not self.admin("node", "add", node.name, "id", node.id, "addr", node.addr):
				continue
			self.model.node_added(node.name)
			rc, out, err = self.lab.nmm("node", "export", node.name, "file", path)
			m = re.search(r"^transfer code (\S+)", out, re.M)
			if rc or not m:
				self.op_errors.append(f"step {self.step}: export {node.name}: {err.strip()}")
				continue
			with open(os.open(path + ".code", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
				  "w") as f:
				f.write(m.group(1) + "\n")
			codes[node.name] = path
		res = run_many({n: ns_exec(self.model.nodes[n].ns, AGENT, "import", path,
					   "--code-file", path + ".code",
					   "--state", os.path.join(self.lab.w, n))
				for n, path in codes.items()})
		done = []
		for n, (rc, out, err) in sorted(res.items()):
			if rc:
				self.op_errors.append(f"step {self.step}: import on {n}: {(err or out).strip()}")
			else:
				done.append(self.model.nodes[n])
		return done

	def snapshot(self, strict):
		"""What bad input must not change, None if the NMM does not answer; the
		epochs only when quiet (else a node's first session may re-key its
		ASRs meanwhile)."""
		obs = Observation(self.lab, self.model, [])
		if obs.errors:
			return None
		nodes = sorted((x["id"], x["name"], tuple(x["addrs"])) for x in obs.nodes.values())
		asrs = sorted((a["id"], a["name"], a["alg"], a["policy"], a["grace"],
			       a["epoch"] if strict else None,
			       tuple(sorted((m["node"], m["name"], m["state"] == "revoked")
					    for m in a["members"])))
			      for a in obs.asrs.values())
		return nodes, asrs

	def can_lose(self, name):
		"""Each ASR of name keeps two members, both online, without it."""
		return all(len(self.model.members[a]) > 2 and
			   len([n for n in self.model.online_members(a) if n != name]) >= 2
			   for a in self.model.asrs_of(name))

	def note(self, text):
		print(f"# step {self.step} {clock()}: {text}", flush=True)

	# ---------------------------------------------------------------- operations

	def candidates(self):
		"""kind -> the arguments it can take now (sorted: the seed decides)."""
		m = self.model
		live, online = m.live(), m.online()
		offline = [n for n in live if not m.nodes[n].running]
		may_lose = [n for n in live if self.can_lose(n)]

		def lose_from(a, n):
			return len(m.members[a]) > 2 and \
				len([o for o in m.online_members(a) if o != n]) >= 2
		c = {
			"add-member": [(a, n) for a in ASRS for n in live
				       if n not in m.members[a] and len(m.members[a]) < len(live) - 1],
			"del-member": [(a, n) for a in ASRS for n in sorted(m.members[a])
				       if lose_from(a, n)],
			"move": [(a, b, n) for a in ASRS for b in ASRS for n in sorted(m.members[a])
				 if a != b and n not in m.members[b] and lose_from(a, n)],
			"readd-member": [(a, n) for a in ASRS for n in sorted(m.members[a])],
			"node-add": [()] if len(live) < self.args.nodes + EXTRA_NODES else [],
			"node-del": [(n,) for n in may_lose] if len(live) > self.args.nodes - 1 else [],
			"node-readd": [(n,) for n in may_lose],
			"agent-kill": [(n,) for n in online if n in may_lose]
			if len(offline) < MAX_OFFLINE else [],
			"agent-stop": [(n,) for n in online if n in may_lose]
			if len(offline) < MAX_OFFLINE else [],
			"agent-start": [(n,) for n in offline],
			"nmm-restart": [()],
			"bad-input": [()],
		}
		return {k: v for k, v in c.items() if v}

	def do_add_member(self, a, n):
		self.note(f"asr add-member {a} node {n}")
		if self.admin("asr", "add-member", a, "node", n):
			self.model.add_member(a, n)

	def do_del_member(self, a, n):
		self.note(f"asr del-member {a} node {n}")
		if self.admin("asr", "del-member", a, "node", n):
			self.model.del_member(a, n)

	def do_move(self, a, b, n):
		self.do_del_member(a, n)
		self.do_add_member(b, n)

	def do_readd_member(self, a, n):
		self.do_del_member(a, n)
		self.do_add_member(a, n)

	def do_node_add(self):
		node = self.new_node()
		if node:
			self.note(f"node add {node.name} id {node.id} addr {node.addr}, import, agent start")
			for n in self.provision([node]):
				self.lab.start_agent(n)

	def delete(self, n):
		"""node del; its agent stopped once the LEAVEs are through. True if done."""
		node = self.model.nodes[n]
		self.note(f"node del {n}")
		if not self.admin("node", "del", n):
			return False
		if node.running:
			end = time.monotonic() + 10
			while time.monotonic() < end and Observation(self.lab, self.model, [n],
									       nmm=False).kernel[n]:
				time.sleep(0.3)
			self.lab.stop_agent(node, signal.SIGTERM)
		self.model.node_deleted(n)
		return True

	def do_node_del(self, n):
		if not self.delete(n):
			return
		self.deleted.append(n)
		while len(self.deleted) > KEEP_DELETED:
			old = self.model.nodes[self.deleted.pop(0)]
			self.lab.del_namespace(old.ns)
			old.has_ns = False

	def do_node_readd(self, n):
		if not self.delete(n):
			return
		node = self.model.nodes[n]
		self.note(f"node add {n} id {node.id} addr {node.addr} again, import, agent start")
		for x in self.provision([node]):
			self.lab.start_agent(x)

	def do_agent_kill(self, n):
		self.note(f"agent of {n}: kill -9")
		self.lab.stop_agent(self.model.nodes[n], signal.SIGKILL)

	def do_agent_stop(self, n):
		self.note(f"agent of {n}: stop (SIGTERM)")
		self.lab.stop_agent(self.model.nodes[n], signal.SIGTERM)

	def do_agent_start(self, n):
		self.note(f"agent of {n}: start")
		self.lab.start_agent(self.model.nodes[n])

	def do_nmm_restart(self):
		self.note("akm-nmmd: kill -9, start")
		self.lab.stop_nmm(signal.SIGKILL)
		why = self.lab.start_nmm()
		if why:
			self.op_errors.append(f"step {self.step}: NMM restart: {why}")

	# ---------------------------------------------------------------- bad input

	def bad_inputs(self):
		"""(what, akmctl nmm arguments) that must be refused, for the model now."""
		m = self.model
		live = m.live()
		self.bad_seq += 1
		name, nid = f"bad{self.bad_seq}", BAD_ID + self.bad_seq
		addr = f"10.78.{self.bad_seq >> 8 & 255}.{self.bad_seq & 255 or 1}"
		gone = sorted(n for n, x in m.nodes.items() if not x.live) or ["ghost"]
		out = []
		for a in ASRS:
			out += [("add-member of a member", ("asr", "add-member", a, "node", n))
				for n in sorted(m.members[a])]
			out += [("del-member of a non-member", ("asr", "del-member", a, "node", n))
				for n in live if n not in m.members[a]]
		for n in live:
			x = m.nodes[n]
			out += [
				("node add with an existing name", ("node", "add", n, "id", nid, "addr", addr)),
				("node add with an existing id", ("node", "add", name, "id", x.id, "addr", addr)),
				("node add with a live node's address",
				 ("node", "add", name, "id", nid, "addr", x.addr)),
				("unknown ASR", ("asr", "add-member", 9, "node", n)),
				("unknown ASR", ("asr", "del-member", 4, "node", n)),
				("bad syntax", ("asr", "add-member", 1, "nod", n)),
				("bad syntax", ("asr", "add-member", "one", "node", n)),
				("bad syntax", ("asr", "del-member", 2, "node", n, "now")),
			]
		out += [
			("unknown node", ("asr", "add-member", 1, "node", gone[0])),
			("unknown node", ("asr", "del-member", 3, "node", "nosuch")),
			("unknown node", ("node", "del", gone[-1])),
			("bad syntax", ("asr", "add-member", 2)),
			("bad syntax", ("node", "add", "bad/name", "id", nid, "addr", addr)),
			("bad syntax", ("node", "add", name, "id", 0, "addr", addr)),
			("bad syntax", ("node", "add", name, "id", nid)),
			("bad syntax", ("node", "add", name, "id", nid, "addr", "10.78.0.300")),
			("bad syntax", ("node", "add", name, "id", nid, "addr", addr, "addr", addr)),
			("the NMM's own id", ("node", "add", name, "id", NMM_ID, "addr", addr)),
			("bad syntax", ("asr", "frob", 1)),
			("bad syntax", ("frob",)),
		]
		return out

	def do_bad_input(self):
		what, args = self.rng.choice(self.bad_inputs())
		cmd = "akmctl nmm " + " ".join(map(str, args))
		self.note(f"bad input ({what}): {cmd}")
		before = self.snapshot(self.quiet)
		rc, out, err = self.lab.nmm(*args)
		after = self.snapshot(self.quiet)
		diag = [] if before and after else ["the NMM did not answer asr show or node list"]
		if rc == 0:
			diag.append(f"exit status 0 (accepted): {out.strip()}")
		if not err.strip():
			diag.append("no message on stderr")
		if before != after:
			diag += ["the NMM's state changed:", f"before: {before}", f"after:  {after}"]
		self.tap.result(not diag, f"step {self.step}: refused, nothing changed: {cmd} ({what})",
				self.step, diag + [f"stderr: {err.strip()}"])
		# undo a wrongly accepted node add, so that the model stays right
		if rc == 0 and args[:2] == ("node", "add") and args[2] not in self.model.nodes:
			self.lab.nmm("node", "del", args[2])

	# ---------------------------------------------------------------- quiet points

	def convergence_problems(self, obs):
		"""family -> what does not hold yet, for [1], [4] and [5]."""
		m = self.model
		p = {1: [], 4: [], 5: []}
		if obs.asrs is None or obs.nodes is None:
			for f in p:
				p[f] = ["the NMM did not answer: " + "; ".join(
					f"{k}: {v}" for k, v in obs.errors.items())]
			return p
		for a in ASRS:
			nmm = obs.asrs.get(a)
			if nmm is None:
				p[5].append(f"ASR {a} missing from asr show")
				continue
			e = nmm["epoch"]
			for n in m.online_members(a):
				cur = obs.current(n, a)
				if obs.kernel.get(n) is None:
					p[1].append(f"ASR {a}: kernel of {n} unreadable: {obs.errors[n]}")
				elif cur is None:
					p[1].append(f"ASR {a}: {n} has no ASR {a} in its kernel (NMM epoch {e})")
				elif cur != [e]:
					p[1].append(f"ASR {a}: {n} sends with epoch {cur or 'none'}, the NMM's is {e}")
			members = {x["name"]: x for x in nmm["members"]}
			for n, x in sorted(members.items()):
				if x["state"] == "revoked":
					continue
				if "fail" in x["delivery"]:
					p[4].append(f"ASR {a} epoch {e}: delivery to {n}: {x['delivery']}")
				elif m.nodes.get(n) and m.nodes[n].running and x["delivery"] != "activated":
					p[4].append(f"ASR {a} epoch {e}: {n} online, delivery {x['delivery']}")
			want = (sorted(m.members[a]), sorted(m.revoked[a]))
			have = (sorted(n for n, x in members.items() if x["state"] != "revoked"),
				sorted(n for n, x in members.items() if x["state"] == "revoked"))
			if want != have:
				p[5].append(f"ASR {a}: members, revoked {have}; the model has {want}")
		live = m.live()
		if sorted(obs.nodes) != live:
			p[5].append(f"node list has {sorted(obs.nodes)}; the model {live}")
		for n in live:
			x, node = obs.nodes.get(n), m.nodes[n]
			if x is None:
				continue
			if x["id"] != node.id or x["addrs"] != [node.addr]:
				p[5].append(f"{n}: id {x['id']} addrs {x['addrs']}; the model {node.id} {node.addr}")
			want = ("active", "online") if node.running else (x["state"], "offline")
			if x["state"] not in ("provisioned", "active") or (x["state"], x["link"]) != want:
				p[5].append(f"{n}: {x['state']} {x['link']}, its agent "
					    f"{'runs' if node.running else 'is down'}")
		return p

	def pairs(self):
		"""The pairs [2] and [3] check now: sharing, removed (a sample)."""
		removed = self.model.removed_pairs()
		if len(removed) > REMOVED_PAIRS_MAX:
			removed = sorted(random.Random(f"{self.seed}:{self.step}").sample(
				removed, REMOVED_PAIRS_MAX))
		return self.model.sharing_pairs(), removed

	def ping(self, src, dst, count, wait):
		n = self.model.nodes
		return ["nsenter", f"--net=/run/netns/{n[src].ns}", "ping", "-q", "-c", str(count),
			"-i", "0.2", "-W", str(wait), n[dst].addr]

	def traffic(self, share, removed, before):
		"""[2] and [3]: the problems of each; before: the kernels just before."""
		m = self.model
		names = sorted({n for p in share + removed for n in p})
		cmds = {p: self.ping(*p, 2, 2) for p in share}
		cmds.update({d: self.ping(*d, 1, 1) for x, y in removed for d in ((x, y), (y, x))})
		pings = run_many(cmds)
		after = Observation(self.lab, m, names, nmm=False)
		errors = [f"kernel of {n}: {o.errors[n]}" for o in (before, after) for n in names
			  if n in o.errors]

		def delta(n, asr, counter, member=None):
			return after.counter(n, asr, counter, member) - before.counter(n, asr, counter, member)

		def member_sum(n, other, counter):
			return sum(delta(n, a, counter, m.nodes[other].id) for a in ASRS)

		def listing(n, other):
			"""How the kernel of n lists other."""
			ent = [f"ASR {a} {e['state']} {' '.join(e['addrs']) or '(no address)'}"
			       for a, asr in sorted((after.kernel.get(n) or {}).items())
			       for e in asr["members"] if e["node"] == m.nodes[other].id]
			return f"{n}'s kernel lists {other}: " + ("; ".join(ent) or "nowhere")

		p2 = list(errors)
		for x, y in share:
			bad = ["no reply"] if pings[(x, y)][0] else []
			bad += [f"{n}'s {c} for {o} did not move" for n, o in ((x, y), (y, x))
				for c in ("tx_packets", "rx_packets") if member_sum(n, o, c) < 1]
			if bad:
				p2.append(f"{x} -> {y} (ASRs {sorted(set(m.asrs_of(x)) & set(m.asrs_of(y)))}): "
					  + ", ".join(bad) + "; " + listing(x, y) + "; " + listing(y, x))
		p3 = list(errors)
		for x, y in removed:
			holders = m.holders(x, y)
			bad = [f"{s} -> {d} got a reply" for s, d in ((x, y), (y, x)) if not pings[(s, d)][0]]
			# the holder drops the revoked node's packets, plain or tagged; a
			# revoked node that missed its LEAVE may drop the holder's itself
			drops = member_sum(x, y, "drop_plain") + member_sum(y, x, "drop_plain") + \
				sum(delta(h, a, "drop_not_member") for h, _, a in holders)
			if drops < 1:
				bad.append("no drop counted by " + ", ".join(
					f"{h} (ASR {a}, {o} revoked)" for h, o, a in holders) + f" nor {x}, {y}")
			if bad:
				p3.append(f"{x} <-> {y}: " + ", ".join(bad) + "; " + listing(x, y) + "; " +
					  listing(y, x))
		return p2, p3

	def evidence(self, names):
		"""Log lines since the last quiet point that may say why."""
		files = [(self.lab.nmm_log, NMM_EVIDENCE)] + \
			[(os.path.join(self.lab.w, f"agent-{n}.log"), AGENT_EVIDENCE) for n in names]
		lines = []
		for path, pattern in files:
			try:
				with open(path, errors="replace") as f:
					f.seek(self.log_marks.get(path, 0))
					hits = [l.rstrip() for l in f if pattern.search(l)]
			except OSError:
				continue
			lines += [f"{os.path.basename(path)}: {l}" for l in hits[-8:]]
		return lines

	def mark_logs(self):
		for f in os.listdir(self.lab.w):
			if f.endswith(".log"):
				path = os.path.join(self.lab.w, f)
				self.log_marks[path] = os.path.getsize(path)

	def daemons_dead(self):
		"""Daemons that exited on their own, restarted to keep the model's view."""
		dead = []
		if self.lab.nmm_proc.poll() is not None:
			dead.append(f"akm-nmmd exited with status {self.lab.nmm_proc.returncode}")
			self.lab.nmm_logf.close()
			why = self.lab.start_nmm()
			if why:
				dead.append(f"and does not restart: {why}")
		for n in self.model.online():
			node = self.model.nodes[n]
			if node.agent.poll() is not None:
				dead.append(f"the agent of {n} exited with status {node.agent.returncode}")
				node.log.close()
				self.lab.start_agent(node)
		return dead

	def quiet_point(self):
		prev = self.since
		problems0 = self.op_errors + self.daemons_dead()
		share, removed = self.pairs()
		names = sorted(set(self.model.online()) | {n for p in share + removed for n in p})
		t0 = time.monotonic()
		while True:
			obs = Observation(self.lab, self.model, names)
			probs = self.convergence_problems(obs)
			converged = not any(probs.values())
			if converged or time.monotonic() - t0 >= self.args.deadline:
				break
			time.sleep(0.5)
		took = time.monotonic() - t0
		self.stuck = 0 if converged else self.stuck + 1
		if converged:
			self.conv_times.append(took)
			print(f"# step {self.step}: converged in {took:.1f} s", flush=True)
		else:
			self.unconverged.append(self.step)
			print(f"# step {self.step}: NOT converged after {took:.1f} s", flush=True)
		p2, p3 = self.traffic(share, removed, obs)
		probs.update({0: problems0, 2: p2, 3: p3})
		detail = {
			0: f"{self.step - prev} operations since step {prev}",
			1: f"{sum(len(self.model.online_members(a)) for a in ASRS)} online memberships",
			2: f"{len(share)} pairs",
			3: f"{len(removed)} pairs" + (": " + " ".join(f"{x}-{y}" for x, y in removed)
						      if removed else ""),
			4: f"{sum(len(self.model.members[a]) for a in ASRS)} memberships",
			5: f"{len(self.model.live())} nodes",
		}
		involved = sorted({w for lines in probs.values() for l in lines
				   for w in re.findall(r"\bn\d+\b", l) if w in self.model.nodes})
		evidence = self.evidence(involved) if any(probs.values()) else []
		for f in sorted(FAMILIES):
			diag = probs[f]
			if diag and evidence:	# with the first failure of this quiet point
				diag = diag + ["logs since the last quiet point:"] + evidence
				evidence = []
			self.tap.result(not probs[f], f"step {self.step}: [{f}] {FAMILIES[f]} "
					f"({detail[f]})", self.step, diag)
		self.quiet = converged
		self.since = self.step
		self.op_errors = []
		self.mark_logs()

	# ---------------------------------------------------------------- the run

	def setup(self):
		"""The network, the NMM, three ASRs, --nodes nodes active and online."""
		why = self.lab.network()
		self.tap.result(not why, "setup: bridge and NMM namespace", 0, [why or ""])
		if why:
			return False
		nodes = [self.new_node() for _ in range(self.args.nodes)]
		self.tap.result(all(nodes), f"setup: {len(nodes)} node namespaces", 0, self.op_errors)
		if not all(nodes):
			return False
		rc, _, err = sh(*ns_exec(nodes[0].ns, "ping", "-c", "1", "-W", "2", NMM_ADDR))
		self.tap.result(rc == 0, "setup: network up", 0, [err])
		why = self.lab.start_nmm()
		self.tap.result(not why, "setup: akm-nmmd starts", 0, [why or ""])
		if why:
			return False
		for a in ASRS:
			self.admin("asr", "add", a, "alg", ALG, "name", f"rnd{a}", "grace", 10)
		done = self.provision(nodes)
		self.tap.result(len(done) == len(nodes) and not self.op_errors,
				f"setup: three ASRs, {len(nodes)} nodes added, exported and imported",
				0, self.op_errors)
		if len(done) != len(nodes):
			return False
		self.op_errors = []
		for node in nodes:
			self.lab.start_agent(node)
		end = time.monotonic() + SETUP_DEADLINE
		while True:
			obs = Observation(self.lab, self.model, [])
			up = sorted(n for n, x in (obs.nodes or {}).items()
				    if (x["state"], x["link"]) == ("active", "online"))
			if len(up) == len(nodes) or time.monotonic() > end:
				break
			time.sleep(0.5)
		self.tap.result(len(up) == len(nodes), "setup: every node active and online", 0,
				[f"up: {up}"] + self.evidence([n.name for n in nodes]))
		if len(up) != len(nodes):
			return False
		# a triangle: each pair shares one ASR at most; the rest one ASR each
		tri = [n.name for n in nodes[:6]]
		layout = {1: tri[0:3], 2: tri[2:5], 3: tri[4:6] + tri[0:1]}
		for i, node in enumerate(nodes[6:]):
			layout[ASRS[i % 3]].append(node.name)
		for a in ASRS:
			for n in layout[a]:
				self.do_add_member(a, n)
		self.note("initial memberships: " + "; ".join(
			f"ASR {a} {sorted(self.model.members[a])}" for a in ASRS))
		self.quiet_point()
		return True

	def drive(self):
		until = self.rng.randint(*QP_EVERY)
		while self.step < self.args.ops:
			self.step += 1
			cands = self.candidates()
			kinds = sorted(cands)
			kind = self.rng.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
			args = self.rng.choice(cands[kind])
			self.counts[kind] += 1
			if kind != "bad-input":
				self.quiet = False
			getattr(self, "do_" + kind.replace("-", "_"))(*args)
			until -= 1
			if until == 0 or self.step == self.args.ops:
				self.quiet_point()
				until = self.rng.randint(*QP_EVERY)
			if self.stuck and self.stuck == self.args.give_up:
				print(f"# giving up at step {self.step}: {self.stuck} quiet points in a row "
				      "did not converge", flush=True)
				break

	def summary(self, elapsed):
		t = self.conv_times
		print(f"# summary: seed {self.seed}, {self.step} operations in {elapsed:.0f} s, "
		      f"{self.args.nodes} nodes at the start, {self.next_id - 2} node ids used")
		print("# operations: " + ", ".join(f"{k} {self.counts[k]}" for k in WEIGHTS))
		print(f"# quiet points: {len(t) + len(self.unconverged)}, converged {len(t)}" +
		      (", not converged at steps " + " ".join(map(str, self.unconverged))
		       if self.unconverged else ""))
		if t:
			print(f"# convergence: min {min(t):.1f} s, median {statistics.median(t):.1f} s, "
			      f"max {max(t):.1f} s")
		if not self.tap.failures:
			print("# failures: 0")
			return
		kinds = collections.Counter(failure_kind(name) for _, name in self.tap.failures)
		print(f"# failures: {self.tap.failed} (" +
		      ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + "; steps " +
		      " ".join(str(x) for x in sorted({x for x, _ in self.tap.failures})) + ")")
		print(f"# reproduce: tests/nmm/random.py --seed {self.seed} --ops {self.args.ops} "
		      f"--nodes {self.args.nodes}")


def failure_kind(name):
	"""[N] for an invariant family, else bad input or setup."""
	m = re.search(r"\[\d\]", name)
	return m.group(0) if m else "bad input" if "refused" in name else "setup"


def skip_reason():
	if os.geteuid() != 0:
		return "needs root"
	for b in (NMMD, AGENT, AKMCTL):
		if not os.access(b, os.X_OK):
			return f"{b} not built (make -C userspace)"
	if not os.path.isdir("/sys/module/akm"):
		return "akm.ko not loaded"
	return None


def parse_args():
	def nodes(s):
		v = int(s)
		if v < 6:
			raise argparse.ArgumentTypeError("at least 6")
		return v
	ap = argparse.ArgumentParser(description="Randomized convergence test of the NMM and agents.")
	ap.add_argument("--seed", type=int, help="the seed (default: random)")
	ap.add_argument("--ops", type=int, default=60, help="operations (default 60)")
	ap.add_argument("--nodes", type=nodes, default=6, help="nodes at the start (at least 6)")
	ap.add_argument("--deadline", type=float, default=20,
			help="seconds to converge at each quiet point (default 20)")
	ap.add_argument("--give-up", type=int, default=3, metavar="N",
			help="stop after N quiet points in a row that did not converge "
			"(default 3; 0: never)")
	return ap.parse_args()


def on_signal(sig, frame):
	raise SystemExit(128 + sig)


def main():
	args = parse_args()
	seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2 ** 32)
	print(f"# seed {seed}", flush=True)
	print("TAP version 13", flush=True)
	tap = Tap(seed)
	why = skip_reason()
	if why:
		tap.skip("nmm random", why)
		tap.totals()
		return 4
	for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
		signal.signal(s, on_signal)
	lab = Lab()
	start = time.monotonic()
	try:
		run = Run(args, seed, tap, lab)
		if run.setup():
			run.drive()
		run.summary(time.monotonic() - start)
	finally:
		lab.cleanup()
	tap.totals()
	return 1 if tap.failed else 0


if __name__ == "__main__":
	sys.exit(main())
