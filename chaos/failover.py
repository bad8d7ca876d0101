#!/usr/bin/env python3
"""Targeted leader-failover measurement: kill -9 the leader N times, time a new leader.

Starts `ass-node dev` (3 or 5 nodes, TLS on, loopback) in DIR, then N rounds of: find the
leader, keep writing through a surviving node, `kill -9` the leader, and record
  * elected: ms until a surviving node reports itself leader at a higher term;
  * write:   ms until a write through a surviving node is acknowledged again;
then restart and unseal the killed node and let the cluster settle. Prints one line per round
and the p50/p99/max of both. With RUST_LOG=info,openraft=info the nodes log openraft's election
events in DIR/nodeN/node.log (`do trigger election`, `reject vote-request: leader lease`,
`seen a greater log id`).

    python3 chaos/failover.py --exe target/release/ass-node --rounds 10 [--nodes 5]
"""

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", default="target/release/ass-node")
    ap.add_argument("--dir", default="/tmp/ass-failover")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--base-port", type=int, default=23401)
    ap.add_argument("--extra-config", default="", help="not used by ass-node dev; reserved")
    a = ap.parse_args()

    subprocess.run(["rm", "-rf", a.dir])
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "info,openraft=info")
    dev = subprocess.Popen(
        [a.exe, "dev", "--dir", a.dir, "--nodes", str(a.nodes), "--base-port", str(a.base_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        run(a, env)
    finally:
        os.killpg(dev.pid, signal.SIGKILL)
        for pid in node_pids(a).values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def node_pids(a):
    out = subprocess.run(["pgrep", "-af", f"{a.dir}/node"], capture_output=True, text=True).stdout
    pids = {}
    for line in out.splitlines():
        pid, cmd = line.split(" ", 1)
        for i in range(1, a.nodes + 1):
            if f"{a.dir}/node{i}/config.toml" in cmd and " run " in f" {cmd} ":
                pids[i] = int(pid)
    return pids


def run(a, env):
    cluster_file = os.path.join(a.dir, "cluster.json")
    deadline = time.time() + 120
    while not os.path.exists(cluster_file):
        if time.time() > deadline:
            sys.exit("the dev cluster did not start")
        time.sleep(0.2)
    time.sleep(0.5)
    cluster = json.load(open(cluster_file))
    ctx = ssl.create_default_context(cafile=cluster["ca_cert"])
    token = cluster["root_token"]
    url = {i: f"https://127.0.0.1:{a.base_port + i - 1}" for i in range(1, a.nodes + 1)}

    def call(i, method, path, body=None, timeout=1.0):
        req = urllib.request.Request(url[i] + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("authorization", f"Bearer {token}")
        req.add_header("content-type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return json.loads(r.read() or b"null")

    def status(i):
        try:
            return call(i, "GET", "/v1/sys/status", timeout=0.5)
        except Exception:
            return None

    def leader():
        for _ in range(300):
            for i in url:
                s = status(i)
                if s and s.get("leader_id") == i and not s.get("sealed"):
                    return i, s["term"]
            time.sleep(0.1)
        sys.exit("no leader")

    elected, written = [], []
    n = 0
    for r in range(a.rounds):
        old, term = leader()
        other = [i for i in url if i != old]
        # Writes keep flowing right up to the kill, as under the chaos workload.
        for k in range(20):
            try:
                call(other[k % len(other)], "PUT", f"/v1/secrets/fo/k{k}", {"value": f"v{r}-{k}"})
            except Exception:
                pass
        pid = node_pids(a)[old]
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        e_ms = w_ms = None
        while time.monotonic() - t0 < 30 and (e_ms is None or w_ms is None):
            if e_ms is None:
                for i in other:
                    s = status(i)
                    if s and s.get("leader_id") == i and s["term"] > term:
                        e_ms = (time.monotonic() - t0) * 1000
            if w_ms is None:
                n += 1
                try:
                    call(other[n % len(other)], "PUT", "/v1/secrets/fo/probe", {"value": str(n)},
                         timeout=1.0)
                    w_ms = (time.monotonic() - t0) * 1000
                except Exception:
                    time.sleep(0.02)
        elected.append(e_ms or 30000)
        written.append(w_ms or 30000)
        print(f"round {r + 1}: killed leader {old} (term {term}); new leader after "
              f"{elected[-1]:.0f} ms, first acknowledged write after {written[-1]:.0f} ms",
              flush=True)
        # Restart the killed node with the config `ass-node dev` wrote, and unseal it.
        log = open(os.path.join(a.dir, f"node{old}", "node.log"), "a")
        subprocess.Popen([a.exe, "run", "--config", os.path.join(a.dir, f"node{old}", "config.toml")],
                         stdout=log, stderr=log, env=env, start_new_session=True)
        for _ in range(100):
            if status(old):
                break
            time.sleep(0.1)
        for key in cluster["unseal_keys"]:
            try:
                call(old, "POST", "/v1/sys/unseal", {"key": key})
            except Exception:
                pass
        time.sleep(2)
    for name, xs in (("new leader", elected), ("write acked", written)):
        print(f"{name}: p50 {pct(xs, 50):.0f} ms, p99 {pct(xs, 99):.0f} ms, "
              f"max {max(xs):.0f} ms over {len(xs)} kills")


if __name__ == "__main__":
    main()
