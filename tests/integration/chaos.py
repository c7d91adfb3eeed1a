#!/usr/bin/env python3
"""Chaos driver for tests/integration/chaos.sh (issue 20.6).

Round after round a newer cumulative patch (same livepatch name) is
published, `refresh` is started against a slow server and a simulated kernel
with a transition delay, and SIGKILLed: at a random time, or at a random
point inside a chosen phase (check, download, unpack, verify, revert, load,
report), so every phase is hit. After each kill:
  * `status` must not fail (never exit 8) and must say what the simulated
    kernel holds: state and version, and the recorded version must be the
    module the kernel really has (compared by its bytes);
  * a normal `refresh` must converge to the newest published patch.
Counts per phase are printed. Exit 0 only if at least KILLS kills happened
and every round converged.

usage: chaos.py BIN ROOT SIM PORT CA SERVER_DIR KILLS
"""
import base64
import hashlib
import json
import os
import random
import ssl
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request

BIN, ROOT, SIM, PORT, CA, SERVER_DIR, KILLS = sys.argv[1:8]
KILLS = int(KILLS)
SLOW_MS = 300          # every server answer waits this long (check, download, report)
TRANSITION_MS = 400    # every simulated transition takes this long (revert, load)
PHASES = ["start", "check", "download", "unpack", "verify", "revert", "load", "report"]
SEED = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
rng = random.Random(SEED)


def agent(*args, timeout=120):
    return subprocess.run([BIN + "/livepatch-agent", "--root-dir", ROOT, *args], capture_output=True, text=True,
                          timeout=timeout)


def fault(name):
    ctx = ssl.create_default_context(cafile=CA)
    req = urllib.request.Request(f"https://127.0.0.1:{PORT}/admin/faults", data=json.dumps({"fault": name}).encode(),
                                 headers={"Authorization": "Basic " + base64.b64encode(b"admin:admin-demo").decode(),
                                          "Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req, context=ctx).read()


def transition_delay(ms):
    with open(os.path.join(SIM, "control/transition-delay-ms"), "w") as f:
        f.write(str(ms))


def publish(version):
    kernel = "5.15.0-100.110-generic"
    arch = os.uname().machine
    text = ("kernels:\n"
            f"  - kernel: {kernel}\n    architecture: {arch}\n    supported: supported\n    patches:\n"
            f"      - {{file: lp_demo-{version}.tar.xz, name: lp_demo, version: \"{version}\", "
            f"published: 2026-01-01T{version // 60:02d}:{version % 60:02d}:00Z,\n"
            "         fixes: [{name: cve-2024-1086, description: nf_tables, bug: lp#1, patched: true}]}\n")
    tmp = os.path.join(SERVER_DIR, "catalogue.yaml.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(SERVER_DIR, "catalogue.yaml"))


def module_digests(versions):
    """sha256 of each version's module, to tell which one the kernel holds."""
    out = {}
    for v in versions:
        with tarfile.open(os.path.join(SERVER_DIR, "patches", f"lp_demo-{v}.tar.xz")) as t:
            out[hashlib.sha256(t.extractfile("lp_demo.ko").read()).hexdigest()] = str(v)
    return out


def modinfo_version(path):
    """version= from the module's .modinfo (what the loaders report), '' if none."""
    out = subprocess.run(["objcopy", "-O", "binary", "--only-section=.modinfo", path, "/dev/stdout"],
                         capture_output=True)
    for field in out.stdout.split(b"\0"):
        if field.startswith(b"version="):
            return field[len(b"version="):].decode()
    return ""


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def kernel_view(digests):
    d = os.path.join(SIM, "sys/kernel/livepatch/lp_demo")
    if not os.path.isdir(d):
        return None
    ko = os.path.join(SIM, "modules/lp_demo.ko")
    with open(ko, "rb") as f:
        held = digests.get(hashlib.sha256(f.read()).hexdigest(), "?")
    return {"enabled": read(d + "/enabled") == "1", "transition": read(d + "/transition") == "1",
            "declared": modinfo_version(ko), "held": held}


def status():
    r = agent("status", "--format", "json", "--verbose")
    if r.returncode != 0:
        raise AssertionError(f"status exited {r.returncode}: {r.stderr.strip()}")
    d = json.loads(r.stdout)
    lp = d["Status"][0]["Livepatch"]
    return lp["State"], lp["Version"], d["Verbose"].get("Recorded-Version", "")


def expected(k):
    """(State, Version) that status must show for kernel view k."""
    if k is None:
        return "unapplied", ""
    version = k["declared"] or "unknown"
    if k["enabled"] and k["transition"]:
        return "applying", version
    if k["enabled"]:
        return "applied", version
    return ("unknown" if k["transition"] else "unapplied"), (version if k["transition"] else "")


def check_status_equals_kernel(digests, when):
    state, version, recorded = status()
    k = kernel_view(digests)
    want = expected(k)
    if (state, version) != want:
        raise AssertionError(f"{when}: status says {state} {version!r}, the kernel holds {k} (expected {want})")
    if k and k["enabled"] and k["declared"] and recorded != k["held"]:
        raise AssertionError(f"{when}: status records version {recorded}, the kernel holds the module of {k['held']}")


class Refresh:
    """`refresh` in the background; its progress lines tell the phase."""

    def __init__(self, target):
        self.phase = "start"
        self.target = target
        self.reached = threading.Event()
        self.proc = subprocess.Popen([BIN + "/livepatch-agent", "--root-dir", ROOT, "refresh"], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            # "check...", "download... (12 KiB)", ...
            name = line.split("...", 1)[0]
            if "..." in line and name in PHASES:
                self.phase = name
                if self.phase == self.target:
                    self.reached.set()
        self.reached.set()  # ended before the target phase

    def kill(self):
        """SIGKILL now; the phase it hit, or None if it had already ended."""
        phase = self.phase
        if self.proc.poll() is not None:
            return None
        self.proc.kill()
        self.proc.wait()
        self.reader.join(timeout=5)
        return phase


def phase_length_ms(phase):
    return {"check": SLOW_MS, "download": SLOW_MS, "report": SLOW_MS, "revert": TRANSITION_MS,
            "load": TRANSITION_MS}.get(phase, 0)


def main():
    versions = sorted(int(f[len("lp_demo-"):-len(".tar.xz")]) for f in os.listdir(os.path.join(SERVER_DIR, "patches"))
                      if f.startswith("lp_demo-") and f.endswith(".tar.xz") and f[len("lp_demo-"):-len(".tar.xz")].isdigit())
    digests = module_digests(versions)
    counts = {p: 0 for p in PHASES}
    kills = rounds = converged = in_progress_seen = 0
    full_ms = 4 * SLOW_MS + 2 * TRANSITION_MS + 800  # a whole refresh, roughly
    print(f"chaos: seed {SEED}; server slow={SLOW_MS} ms, transition {TRANSITION_MS} ms", flush=True)
    for version in versions[1:]:
        if kills >= KILLS:
            break
        rounds += 1
        publish(version)
        fault(f"slow={SLOW_MS}")
        transition_delay(TRANSITION_MS)
        target = PHASES[1:][rounds % (len(PHASES) - 1)] if rounds % 2 else None
        r = Refresh(target)
        if target:  # a random point inside the chosen phase
            r.reached.wait(timeout=60)
            if target == "download" and r.proc.poll() is None:
                # Status during a running cycle says so (issue 20.5).
                during = json.loads(agent("status", "--format", "json").stdout)
                if during.get("In-Progress") is not True and r.proc.poll() is None:
                    raise AssertionError(f"round {rounds}: status during a running refresh does not say in progress")
                in_progress_seen += 1
            time.sleep(rng.uniform(0, phase_length_ms(target)) / 1000)
        else:       # a random time of the whole refresh
            time.sleep(rng.uniform(0, full_ms) / 1000)
        phase = r.kill()
        if phase is not None:
            kills += 1
            counts[phase] += 1
        fault("none")
        transition_delay(50)
        check_status_equals_kernel(digests, f"round {rounds} after a kill in {phase}")
        out = agent("refresh")
        if out.returncode != 0:
            raise AssertionError(f"round {rounds}: refresh after a kill in {phase} exited {out.returncode}: "
                                 f"{out.stdout.strip()} {out.stderr.strip()}")
        state, shown, recorded = status()
        k = kernel_view(digests)
        if state != "applied" or recorded != str(version) or not k or k["held"] != str(version):
            raise AssertionError(f"round {rounds}: did not converge to {version} after a kill in {phase}: status "
                                 f"{state} {shown} (recorded {recorded}), kernel {k}")
        check_status_equals_kernel(digests, f"round {rounds} converged")
        converged += 1
    print("chaos: kills per phase: " + ", ".join(f"{p} {n}" for p, n in counts.items()))
    print(f"chaos: {kills} SIGKILLs in {rounds} rounds; {converged} of {rounds} converged to the newest patch; "
          f"status said \"in progress\" during {in_progress_seen} running refreshes")
    if kills < KILLS:
        raise AssertionError(f"only {kills} kills landed (wanted {KILLS}); publish more versions")
    for p in ("check", "download", "revert", "load", "report"):
        if counts[p] == 0:
            raise AssertionError(f"no kill landed in phase {p}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e} (CHAOS_SEED={SEED})", file=sys.stderr)
        sys.exit(1)
