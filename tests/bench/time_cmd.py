#!/usr/bin/python3
"""Median wall time of a command sequence, for tests/bench/run-bench.sh.

  time_cmd.py --runs N [--setup 'shell command'] [--ok-exit 0,1] -- CMD ARGS... [--- CMD ARGS...]

Each run executes the commands one after another (no shell in between, so a
baseline made of several tools pays only for those tools) and is timed with
a monotonic clock around them; --setup runs before every run, untimed.
--ok-exit lists the exit codes that count as success (default 0).
Prints the median in milliseconds. A command failing is an error: a
benchmark of something that did not work measures nothing.
"""
import statistics
import subprocess
import sys
import time


def main(argv):
    runs, setup, ok = 11, None, {0}
    i = 0
    while argv[i] != "--":
        if argv[i] == "--runs":
            runs = int(argv[i + 1])
        elif argv[i] == "--ok-exit":
            ok = {int(x) for x in argv[i + 1].split(",")}
        elif argv[i] == "--setup":
            setup = argv[i + 1]
        else:
            sys.exit(f"time_cmd.py: unknown option {argv[i]}")
        i += 2
    cmds, cur = [], []
    for a in argv[i + 1:]:
        if a == "---":
            cmds.append(cur)
            cur = []
        else:
            cur.append(a)
    cmds.append(cur)
    times = []
    for _ in range(runs):
        if setup:
            subprocess.run(["bash", "-c", setup], check=True)
        start = time.perf_counter()
        for c in cmds:
            r = subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode not in ok:
                sys.exit(f"time_cmd.py: {' '.join(c)} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-300:]}")
        times.append(time.perf_counter() - start)
    print(f"{statistics.median(times) * 1000:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
