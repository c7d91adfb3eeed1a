#!/usr/bin/python3
"""confinement_audit.py STRACE_LOG TABLE [NAME=VALUE ...]

Checks an `strace -f -y -qq -s 4096` log of the agent against what the snap's
declared plugs allow (TABLE: snap/confinement-allowed.tsv, one row per allowed
syscall or path, each citing the snapd source it comes from). Prints every
violation and exits 1 if there is any:
  - a syscall with no `syscall` row;
  - a write (open with O_WRONLY/O_RDWR/O_CREAT/O_TRUNC, mkdir, rename, unlink,
    link, symlink, chmod, truncate) to a path no `write` row matches;
  - with --reads, a read of a path no `read` or `write` row matches.
Every attempt counts, successful or not: under confinement a denied attempt is
an AppArmor denial and a failed operation. NAME=VALUE pairs substitute $NAME in
the table's patterns (SNAP, SNAP_COMMON, SNAP_DATA)."""
import fnmatch
import os
import re
import sys

WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")
# syscall -> indexes of (dirfd, path) argument pairs it writes; dirfd None = cwd
WRITERS = {
    "mkdir": [(None, 0)], "mkdirat": [(0, 1)], "rmdir": [(None, 0)],
    "unlink": [(None, 0)], "unlinkat": [(0, 1)],
    "rename": [(None, 0), (None, 1)], "renameat": [(0, 1), (2, 3)], "renameat2": [(0, 1), (2, 3)],
    "link": [(None, 1)], "linkat": [(2, 3)], "symlink": [(None, 1)], "symlinkat": [(1, 2)],
    "chmod": [(None, 0)], "fchmodat": [(0, 1)], "chown": [(None, 0)], "fchownat": [(0, 1)],
    "truncate": [(None, 0)], "mknod": [(None, 0)], "mknodat": [(0, 1)],
}
OPENERS = {"open": (None, 0, 1), "openat": (0, 1, 2), "openat2": (0, 1, 2), "creat": (None, 0, None)}
READERS = {"stat": [(None, 0)], "lstat": [(None, 0)], "newfstatat": [(0, 1)], "statx": [(0, 1)],
           "access": [(None, 0)], "faccessat": [(0, 1)], "faccessat2": [(0, 1)], "readlink": [(None, 0)],
           "readlinkat": [(0, 1)], "execve": [(None, 0)]}
LINE = re.compile(r'^(\d+)\s+([a-z_0-9]+)\((.*)$')


def split_args(s):
    """Top-level comma split of strace's argument text (strings, braces, <fd paths>)."""
    out, cur, depth, in_str, esc = [], "", 0, False, False
    for ch in s:
        if in_str:
            cur += ch
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[<(":
            depth += 1
        elif ch in "}]>)":
            if depth == 0:  # end of the argument list
                out.append(cur.strip())
                return out
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


def unquote(a):
    if a.startswith('"'):
        return bytes(a.rstrip(".")[1:].rstrip('"'), "utf-8").decode("unicode_escape")
    return None


def fd_dir(a):
    m = re.match(r'^(?:AT_FDCWD|\d+)<(.*)>$', a)
    return m.group(1) if m else None


def resolve(args, di, pi, cwd):
    if pi >= len(args):
        return None
    p = unquote(args[pi])
    if p is None:
        return None
    if p.startswith("/"):
        return os.path.normpath(p)
    base = cwd
    if di is not None and di < len(args):
        base = fd_dir(args[di]) or (cwd if args[di].startswith("AT_FDCWD") else None)
    return os.path.normpath(os.path.join(base or "/<unknown-dir>", p))


def load_table(path, subst):
    rows = {"syscall": [], "read": [], "write": []}
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 3 or parts[0] not in rows or not parts[2].strip():
            sys.exit(f"{path}:{n}: want KIND<TAB>PATTERN<TAB>SOURCE, got {line!r}")
        pattern = parts[1]
        for k in sorted(subst, key=len, reverse=True):  # $SNAP_COMMON before $SNAP
            pattern = pattern.replace("$" + k, subst[k])
        rows[parts[0]].append(pattern)
    return rows


def matches(path, patterns):
    # "**" crosses directories; fnmatch's "*" already does, so "dir/**" = everything under dir
    return any(path == p.rstrip("/*") or fnmatch.fnmatchcase(path, p) for p in patterns)


def main():
    argv = sys.argv[1:]
    reads = "--reads" in argv
    argv = [a for a in argv if a != "--reads"]
    log, table = argv[0], argv[1]
    subst = dict(a.split("=", 1) for a in argv[2:])
    rows = load_table(table, subst)
    cwd = subst.get("CWD", "/")
    bad = set()
    seen = set()
    for line in open(log, errors="replace"):
        m = LINE.match(line.rstrip("\n"))
        if not m or "resumed>" in line[:40]:
            continue
        name, rest = m.group(2), m.group(3)
        seen.add(name)
        if name not in rows["syscall"]:
            bad.add(f"syscall {name}: no row")
        args = split_args(rest)
        targets_w, targets_r = [], []
        if name in OPENERS:
            di, pi, fi = OPENERS[name]
            path = resolve(args, di, pi, cwd)
            flags = args[fi] if fi is not None and fi < len(args) else "O_CREAT"
            (targets_w if any(f in flags for f in WRITE_FLAGS) else targets_r).append(path)
        for di, pi in WRITERS.get(name, []):
            targets_w.append(resolve(args, di, pi, cwd))
        for di, pi in READERS.get(name, []):
            targets_r.append(resolve(args, di, pi, cwd))
        for p in targets_w:
            if p and not matches(p, rows["write"]):
                bad.add(f"write {p} ({name}): no row")
        if reads:
            for p in targets_r:
                if p and not matches(p, rows["read"] + rows["write"]):
                    bad.add(f"read {p} ({name}): no row")
    for b in sorted(bad):
        print("confinement: " + b)
    print(f"confinement: {len(seen)} distinct syscalls checked, {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
