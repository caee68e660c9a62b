#!/usr/bin/env python3
"""Prints what one berthd made on this host, one object a line ("category: object"), sorted, so
two listings can be compared with diff: the same listings as Tests/TestSupport/HostInventory.swift.

  inventory.py --socket S --namespace N --state CONTAINERD_STATE --bridge B --data DIR [--ids FILE]

Scoped to the node: its containerd namespace, bridge and data folder; network namespaces,
cgroups and NAT rules count when their names carry a container id of the node (from FILE, one
id a line, and from what the node itself holds).
"""
import argparse, glob, os, re, subprocess

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:-r[0-9]+)?")


def run(*argv):
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        return ""


def rows(text, header=True):
    lines = [l.split() for l in text.splitlines() if l.strip()]
    return lines[1:] if header else lines


def mentions(text, ids):
    return any(m in ids or m[:36] in ids for m in UUID.findall(text))


def children(path, prefix):
    try:
        return [f"{prefix}/{name}" for name in os.listdir(path)]
    except FileNotFoundError:
        return []


def shims(namespace):
    """Ids of the containerd shims serving the namespace: one whose task containerd no longer
    lists (a Tasks.Delete cut short) is only seen here."""
    ids = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            args = open(cmdline, "rb").read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if args and args[0].endswith("containerd-shim-runc-v2") and "-namespace" in args and "-id" in args:
            n, i = args.index("-namespace"), args.index("-id")
            if n + 1 < len(args) and args[n + 1] == namespace and i + 1 < len(args):
                ids.append(args[i + 1])
    return ids


def main():
    p = argparse.ArgumentParser()
    for flag in ("socket", "namespace", "state", "bridge", "data"):
        p.add_argument("--" + flag, required=True)
    p.add_argument("--ids")
    a = p.parse_args()
    out = []
    ctr = ["ctr", "--address", a.socket, "--connect-timeout", "5s", "-n", a.namespace]
    out += [("ctr.containers", l) for l in run(*ctr, "containers", "ls", "-q").split()]
    out += [("ctr.tasks", f"{r[0]} {r[-1]}") for r in rows(run(*ctr, "tasks", "ls"))]
    out += [("ctr.snapshots", " ".join(r)) for r in rows(run(*ctr, "snapshots", "--snapshotter", "overlayfs", "ls"))]
    out += [("ctr.leases", " ".join(r)) for r in rows(run(*ctr, "leases", "ls"))]
    out += [("ctr.images", l) for l in run(*ctr, "images", "ls", "-q").split()]
    out += [("ctr.content", l) for l in run(*ctr, "content", "ls", "-q").split()]
    out += [("ctr.ingests", r[0]) for r in rows(run(*ctr, "content", "active"))]
    out += [("shim", f"shim {i}") for i in shims(a.namespace)]
    for folder in ("containers", "logs", "cni/results"):
        out += [("data." + folder, c) for c in children(os.path.join(a.data, folder), folder)]
    for record in glob.glob(os.path.join(a.data, "cni/networks/*/*")):
        name = os.path.basename(record)
        if name == "lock" or name.startswith("last_reserved_ip"):
            continue
        with open(record) as f:
            owner = (f.read().splitlines() or [""])[0]
        out.append(("ipam", f"{os.path.relpath(record, os.path.join(a.data, 'cni/networks'))} {owner}"))

    ids = set()
    if a.ids and os.path.exists(a.ids):
        ids |= {l.strip() for l in open(a.ids) if l.strip()}
    for _, line in out:
        ids |= set(UUID.findall(line))

    netns = sorted({n for n in os.listdir("/run/netns") if mentions(n, ids)} if os.path.isdir("/run/netns") else set())
    out += [("netns", n) for n in netns]
    peers = {}
    for n in netns:
        for r in rows(run("ip", "-n", n, "-o", "link", "show"), header=False):
            if len(r) > 1 and "@if" in r[1]:
                peers[r[1].split("@if")[1].rstrip(":")] = n
    for r in rows(run("ip", "-o", "link", "show", "master", a.bridge), header=False):
        out.append(("veth", f"{r[1].split('@')[0]} peer={peers.get(r[0].rstrip(':'), '?')}"))
    for r in rows(run("ip", "-o", "-4", "addr", "show", "dev", a.bridge), header=False):
        if "inet" in r:
            out.append(("bridge", "inet " + r[r.index("inet") + 1]))
    ours = {a.bridge, "BERTH-IN-" + a.bridge, "BERTH-FWD-" + a.bridge}
    for tool, family in (("iptables", "ipv4"), ("ip6tables", "ipv6")):
        for table in ("filter", "nat", "mangle"):
            rules = run(tool, "-w", "-t", table, "-S").splitlines()
            picked = [r for r in rules if ours & set(r.split()) or mentions(r, ids)]
            chains = {w for r in picked for w in r.split() if w.startswith("CNI-")}
            picked += [r for r in rules if r not in picked and len(r.split()) > 1 and r.split()[0] in ("-N", "-A") and r.split()[1] in chains]
            # A chain's declaration names no container; it belongs to whoever its rules name.
            owners = {}
            for r in picked:
                w = r.split()
                found = UUID.findall(r)
                if len(w) > 1 and w[0] == "-A" and found:
                    owners[w[1]] = sorted(found)[0]
            for r in picked:
                w = r.split()
                if len(w) == 2 and w[0] == "-N" and w[1] in owners:
                    r = f"{r} (rules name {owners[w[1]]})"
                out.append((f"{family}.rules", f"{table}: {r}"))
    prefixes = (a.data.rstrip("/") + "/", f"{a.state}/io.containerd.runtime.v2.task/{a.namespace}/")
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        dash = f.index("-")
        point = f[4].replace("\\040", " ")
        if point.startswith(prefixes) or point in {f"/run/netns/{n}" for n in netns}:
            out.append(("mount", f"{point} {f[dash + 1]} {f[dash + 2]}"))
    for backing in glob.glob("/sys/block/loop*/loop/backing_file"):
        path = open(backing).read().strip()
        if path.startswith(a.data.rstrip("/") + "/"):
            out.append(("loop", f"{backing.split('/')[3]} {path}"))
    for folder in glob.glob("/sys/fs/cgroup/*/berth/*") + glob.glob("/sys/fs/cgroup/berth/*"):
        if os.path.isdir(folder) and not os.path.islink(os.path.dirname(os.path.dirname(folder))) and mentions(os.path.basename(folder), ids):
            out.append(("cgroup", folder[len("/sys/fs/cgroup/"):]))
    for category, line in sorted(out):
        print(f"{category}: {line}")


if __name__ == "__main__":
    main()
