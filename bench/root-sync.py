#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The measuring half of bench/root-sync.sh (in the VM, sites linked).

  root-sync.py SOCK PSQL CHANGES SECONDS CLIENTS OUT STORE...

SOCK is the root's admin socket, PSQL a shell command that runs psql on the
root's database (-XAt, the query as its last argument), STORE each site's
NMM store in site order. With AGENT_SITE=I in the environment, the members
of ASR 1 at site I are real nodes: each change is also timed to the moment
the site activated its epoch on all of them. Prints the figures as JSON.
"""
import importlib.util
import json
import os
import shlex
import sqlite3
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("root_load", os.path.join(HERE, "root-load.py"))
load = importlib.util.module_from_spec(spec)
spec.loader.exec_module(load)

sock, psql, changes, seconds, clients, out = sys.argv[1], shlex.split(sys.argv[2]), \
    int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
stores = sys.argv[7:]


def sql(q):
    r = subprocess.run(psql + [q], check=True, capture_output=True, text=True)
    return [line.split("|") for line in r.stdout.splitlines() if line]


def site_ids():
    return [int(r[0]) for r in sql("SELECT id FROM sites ORDER BY id")]


SITES = site_ids()


def wanted():
    """What each site's store must hold: the ASRs with a live member there,
    at the root's epoch."""
    want = {s: {} for s in SITES}
    for s, a, e in sql("SELECT DISTINCT n.site, a.id, a.epoch FROM asrs a JOIN members m "
                       "ON m.asr = a.id AND m.state = 'live' JOIN nodes n ON n.id = m.node "
                       "WHERE NOT a.deleted"):
        want[int(s)][int(a)] = int(e)
    return want


DB = {}


def store_db(store):
    """One read-only connection per store, kept: each SELECT sees the last commit."""
    if store not in DB:
        DB[store] = sqlite3.connect("file:%s?mode=ro" % store, uri=True, timeout=5,
                                    isolation_level=None)
    return DB[store]


def held(store, asr=None):
    try:
        db = store_db(store)
        if asr is None:
            return dict(db.execute("SELECT id, epoch FROM asrs"))
        row = db.execute("SELECT epoch FROM asrs WHERE id = ?", (asr,)).fetchone()
        return row[0] if row else 0
    except sqlite3.OperationalError:
        return {} if asr is None else 0


def behind(want):
    """The sites whose store differs from want, with one difference each."""
    bad = {}
    for s, store in zip(SITES, stores):
        h = held(store)
        if h != want[s]:
            diff = sorted(set(h.items()) ^ set(want[s].items()))
            bad[s] = diff[:2]
    return bad


def converge(limit):
    """Seconds until every store holds what the root says; exits if not."""
    t = time.monotonic()
    want = wanted()
    while True:
        bad = behind(want)
        if not bad:
            return time.monotonic() - t
        if time.monotonic() - t > limit:
            sys.exit("root-sync: %d sites not converged after %d s, e.g. %s" %
                     (len(bad), limit, list(bad.items())[:3]))
        time.sleep(0.2)


def root_epoch(asr):
    return int(sql("SELECT epoch FROM asrs WHERE id = %d" % asr)[0][0])


res = {"sites": len(SITES)}
res["initial_converge_s"] = round(converge(1800), 1)

# ASR 1: a member of its last site removed and added again, CHANGES times
a1 = [int(s) for (s,) in sql("SELECT DISTINCT n.site FROM members m JOIN nodes n ON "
                              "n.id = m.node WHERE m.asr = 1 AND m.state = 'live'")]
a1_stores = [stores[SITES.index(s)] for s in a1]
name = sql("SELECT n.name FROM members m JOIN nodes n ON n.id = m.node WHERE m.asr = 1 "
           "AND m.state = 'live' AND n.site = %d ORDER BY n.id LIMIT 1" % max(a1))[0][0]
res["asr1_members"] = int(sql("SELECT count(*) FROM members WHERE asr = 1 AND "
                              "state = 'live'")[0][0])
res["asr1_sites"] = len(a1)
agent_site = 100000 + int(os.environ.get("AGENT_SITE", "0"))
agent_store = stores[SITES.index(agent_site)] if agent_site in SITES else None


def activated(e):
    """How many members at the agents' site activated epoch e of ASR 1."""
    return store_db(agent_store).execute(
        "SELECT count(*) FROM deliveries WHERE asr = 1 AND epoch = ? AND "
        "state = 'activated'", (e,)).fetchone()[0]


if agent_store:
    res["agents"] = activated(root_epoch(1))
    if not res["agents"]:
        sys.exit("root-sync: no member of ASR 1 at site %d switched" % agent_site)
e = root_epoch(1)
cmd, total, nodes = [], [], []
for i in range(changes):
    verb = "del-member" if i % 2 == 0 else "add-member"
    t0 = time.monotonic()
    load.must(sock, "asr", verb, "1", "node", name)
    t1 = time.monotonic()
    e += 1
    # the removed member is one of the agents
    want = res.get("agents", 0) - (1 if verb == "del-member" else 0)
    t_sites = t_nodes = None
    while t_sites is None or (agent_store and t_nodes is None):
        now = time.monotonic()
        if t_sites is None and min(held(s, 1) for s in a1_stores) >= e:
            t_sites = now
        if agent_store and t_nodes is None and activated(e) >= want:
            t_nodes = now
        if now - t0 > 120:
            sys.exit("root-sync: epoch %d of ASR 1 after 120 s: every site %s, the members "
                     "at site %d %s" % (e, t_sites is not None, agent_site,
                                        t_nodes is not None))
        time.sleep(0.01)
    if root_epoch(1) != e:
        sys.exit("root-sync: ASR 1 is at epoch %d, not %d: another change came" %
                 (root_epoch(1), e))
    cmd.append((t1 - t0) * 1000)
    total.append((t_sites - t0) * 1000)
    if agent_store:
        nodes.append((t_nodes - t0) * 1000)


def stat(v):
    return [round(min(v)), round(statistics.median(v)), round(max(v))]


res["asr1_answer_ms"] = stat(cmd)
res["asr1_sites_ms"] = stat(total)
if nodes:
    res["asr1_nodes_ms"] = stat(nodes)

# sustained: CLIENTS clients changing random ASRs for SECONDS, the sites linked
res["churn"] = load.churn(seconds, clients, [sock], False)
res["churn_converge_s"] = round(converge(1800), 1)
with open(out, "w") as f:
    json.dump(res, f)
print(json.dumps(res))
