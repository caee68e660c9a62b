#!/usr/bin/env python3
"""Runs a command; prints its wall time in seconds and its peak resident memory in KiB.

usage: maxrss.py COMMAND [ARGS...]   (output on stderr: "wall=S maxrss_kib=K"; exit status passed on)
"""
import resource, subprocess, sys, time

start = time.monotonic()
status = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.monotonic() - start
print(f"wall={wall:.3f} maxrss_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
sys.exit(status)
