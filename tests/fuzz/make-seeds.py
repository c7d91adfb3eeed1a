#!/usr/bin/python3
"""Write the structured edge-case seeds of every fuzz corpus (tests/fuzz/<target>/corpus/edge-*).

  tests/fuzz/make-seeds.py            (re)write the seeds; the output is checked in

Random mutation of a few valid inputs rarely reaches the exact boundaries
where parsers go wrong (a note section that ends at the end of the file, a
length field equal to what is left, a `..` entry after a good one). So every
corpus also starts from inputs built to sit on those boundaries and from one
input per refusal the unit tests cover. Deterministic: running it twice gives
the same files, except the module signatures, which need the kernel's
sign-file (module-verify/ keeps the test-only signing key they are made with).
"""
import glob
import io
import json
import os
import shutil
import struct
import subprocess
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = b"~Module signature appended~\n"


def corpus(target):
    d = os.path.join(HERE, target, "corpus")
    os.makedirs(d, exist_ok=True)
    for old in glob.glob(os.path.join(d, "edge-*")):
        os.remove(old)
    return d


def write(d, name, data):
    with open(os.path.join(d, "edge-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- JSON documents: every field missing, of the wrong type, on a boundary --
HOSTILE_VALUES = {
    "null": None, "zero": 0, "minus1": -1, "i64max": 2**63 - 1, "u64over": 2**64, "float": 1e308, "true": True,
    "empty": "", "list": [], "obj": {}, "long": "a" * 4097, "dotdot": "../../etc/passwd", "abs": "/etc/passwd",
    "slash": "a/b", "nul": "a\u0000b", "esc": "\u001b[31mred", "newline": "a\nb", "unicode": "\u202e\u00e9",
}


def json_variants(d, base, prefix):
    write(d, prefix + "base.json", json.dumps(base))
    for key in list(base):
        doc = dict(base)
        del doc[key]
        write(d, f"{prefix}missing-{key}.json", json.dumps(doc))
        for vname, v in HOSTILE_VALUES.items():
            doc = dict(base)
            doc[key] = v
            write(d, f"{prefix}{key}-{vname}.json", json.dumps(doc))


def json_structure(d):
    for name, text in {
        "empty": "", "ws": " \n", "null": "null", "array": "[]", "number": "1", "string": '"x"',
        "truncated": '{"a": ', "deep": "[" * 5000 + "]" * 5000, "deep-obj": '{"a":' * 2000 + "1" + "}" * 2000,
        "dup-keys": '{"name": "a", "name": "b"}', "bad-utf8": b'{"name": "\xff\xfe"}'.decode("latin-1"),
        "bad-escape": '{"name": "\\ud800"}', "trailing": '{} {}', "nan": '{"size": NaN}', "bom": "\ufeff{}",
    }.items():
        write(d, "json-" + name + ".json", text)


def patch_metadata():
    d = corpus("patch-metadata")
    base = {"format": 1, "name": "lp_demo", "version": "1", "module": "lp_demo.ko", "kernel": "5.15.0-100.110-generic",
            "architecture": "x86_64", "replace": True,
            "fixes": [{"name": "cve-2024-1086", "description": "d", "bug": "lp#1", "patched": True}]}
    json_variants(d, base, "")
    json_variants(d, {"name": "cve-1", "description": "d", "bug": "b", "patched": True}, "fix-")
    for n in (0, 1, 1000):
        write(d, f"fixes-{n}.json", json.dumps(dict(base, fixes=[base["fixes"][0]] * n)))
    json_structure(d)


def updates():
    d = corpus("updates")
    patch = {"version": "1", "name": "lp_demo", "filename": "lp_demo-1.tar.xz", "url": "/v1/patches/lp_demo-1.tar.xz",
             "sha256": "c3898d6e79ac1a0fb9407f6a8d93ff7d596543ab6dc371448de85c3c75ad323f", "size": 1092,
             "published": "2026-01-01T00:00:00Z", "replace": True,
             "fixes": [{"name": "cve-2024-1086", "description": "d", "bug": "lp#1", "patched": True}]}
    base = {"supported": "supported", "upgrade-required-date": None, "tier": "stable", "patches": [patch]}
    json_variants(d, base, "")
    for key in list(patch):
        for vname, v in HOSTILE_VALUES.items():
            write(d, f"patch-{key}-{vname}.json", json.dumps(dict(base, patches=[dict(patch, **{key: v})])))
        p = dict(patch)
        del p[key]
        write(d, f"patch-missing-{key}.json", json.dumps(dict(base, patches=[p])))
    for url in ("http://other.example/x", "https://other.example/x", "//other.example/x", "file:///etc/passwd",
                "/v1/../../x", "javascript:x", "https://u:p@server.example/x"):
        write(d, "url-" + url.replace("/", "_").replace(":", "_") + ".json",
              json.dumps(dict(base, patches=[dict(patch, url=url)])))
    for sha in ("C3898D6E79AC1A0FB9407F6A8D93FF7D596543AB6DC371448DE85C3C75AD323F", "c3" * 31, "c3" * 33, "zz" * 32):
        write(d, f"sha-{len(sha)}-{sha[:2]}.json", json.dumps(dict(base, patches=[dict(patch, sha256=sha)])))
    for t in ("2026-13-01T00:00:00Z", "2026-01-01", "9999-12-31T23:59:59Z", "2026-01-01T00:00:00+25:00"):
        write(d, "published-" + t.replace(":", "_") + ".json", json.dumps(dict(base, patches=[dict(patch, published=t)])))
    write(d, "patches-many.json", json.dumps(dict(base, patches=[patch] * 300)))
    for s in ("kernel-upgrade-required", "unsupported", "unknown", ""):
        write(d, "supported-" + (s or "empty") + ".json", json.dumps(dict(base, supported=s)))
    json_structure(d)


def config():
    d = corpus("config")
    values = {
        "remote-server": ["https://x", "http://x", "file:///srv/m", "file:///../x", "https://u:p@x/", "ftp://x",
                          "https://x\nrun-mode: stop"],
        "check-interval": ["0", "525600", "525601", "-1", "99999999999999999999", "0x10", " 5"],
        "first-check-window": ["", "0", "525600", "525601", "-1", "x"],
        "ca-certs": ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not pem"],
        "server-pins": ["A" * 43 + "=", "A" * 44, "A" * 43 + "=," + "B" * 43 + "="],
        "http-proxy": ["http://u:secret@proxy:3128", "proxy:3128"],
        "dial-timeout": ["0", "1", "3600", "3601"],
        "log-level": ["trace", "loud"],
        "cutoff-date": ["2023-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "yesterday"],
        "patch-delay": ["3d", "2w", "0s", "3x", "99999999999999999999d"],
        "plugin-dirs": ["/opt/p", "rel", "/a,/b,"],
        "verifiers": [",", "verify-module-signature,verify-elf-note", "UPPER", "a" * 65],
        "signature-hashes": ["sha512,sha256", "md5", ""],
        "run-mode": ["no-apply", "fast"],
        "unpack-max-bytes": ["1", str(1 << 34), str((1 << 34) + 1)],
    }
    for key, vals in values.items():
        for i, v in enumerate(vals):
            write(d, f"{key}-{i}.yaml", f"{key}: {json.dumps(v)}\n")
    for name, text in {
        "empty": "", "list": "- a\n- b\n", "scalar": "x\n", "nested": "check-interval: {a: 1}\n",
        "seq-value": "check-interval: [1, 2]\n", "unknown-key": "bogus-key: \"1\"\n", "null": "check-interval: ~\n",
        "anchor": "a: &x \"1\"\ncheck-interval: *x\n", "merge": "<<: {check-interval: \"5\"}\n",
        "dup": "check-interval: \"1\"\ncheck-interval: \"2\"\n", "tag": "check-interval: !!binary aGk=\n",
        "unclosed": "check-interval: [unclosed\n", "tabs": "check-interval:\t\"5\"\n", "nul": "check-interval: \"5\x00\"\n",
        "doc-markers": "---\ncheck-interval: \"5\"\n...\n---\nlog-level: debug\n", "bom": "\ufeffcheck-interval: \"5\"\n",
        "billion-laughs": "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\n"
                          "c: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c]\n",
    }.items():
        write(d, "yaml-" + name + ".yaml", text)


# ---- tar archives: every entry kind the unpacker must refuse ----------------
def tar_bytes(entries, fmt=tarfile.GNU_FORMAT, compression=""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:" + compression, format=fmt) as t:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.type = e.get("type", tarfile.REGTYPE)
            info.linkname = e.get("link", "")
            info.mode = e.get("mode", 0o644)
            info.devmajor, info.devminor = e.get("dev", (0, 0))
            data = e.get("data", b"")
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return buf.getvalue()


def unpack():
    d = corpus("unpack")
    meta = json.dumps({"format": 1, "name": "lp_x", "version": "1", "module": "lp_x.ko", "kernel": "k",
                       "architecture": "x86_64", "replace": True, "fixes": []}).encode()
    good = [{"name": "livepatch.json", "data": meta}, {"name": "lp_x.ko", "data": b"\x7fELF" + b"\0" * 60}]
    cases = {
        "good": good,
        "dotdot": good + [{"name": "../escaped", "data": b"x"}],
        "dotdot-deep": good + [{"name": "a/../../escaped", "data": b"x"}],
        "dotdot-dir": good + [{"name": "../escaped-dir/", "type": tarfile.DIRTYPE}],
        "absolute": good + [{"name": "/tmp/lp-fuzz-escaped", "data": b"x"}],
        "symlink-out": good + [{"name": "link", "type": tarfile.SYMTYPE, "link": "/tmp"}],
        "symlink-parent": good + [{"name": "up", "type": tarfile.SYMTYPE, "link": ".."},
                                  {"name": "up/escaped", "data": b"x"}],
        "symlink-then-write": [{"name": "lp_x.ko", "type": tarfile.SYMTYPE, "link": "../victim"},
                               {"name": "lp_x.ko", "data": b"x"}],
        "hardlink-out": good + [{"name": "hard", "type": tarfile.LNKTYPE, "link": "../victim"}],
        "hardlink-in": good + [{"name": "hard", "type": tarfile.LNKTYPE, "link": "lp_x.ko"}],
        "chardev": good + [{"name": "null", "type": tarfile.CHRTYPE, "dev": (1, 3)}],
        "blockdev": good + [{"name": "sda", "type": tarfile.BLKTYPE, "dev": (8, 0)}],
        "fifo": good + [{"name": "fifo", "type": tarfile.FIFOTYPE}],
        "dir-then-file": [{"name": "x/", "type": tarfile.DIRTYPE}, {"name": "x", "data": b"x"}],
        "file-then-dir": [{"name": "x", "data": b"x"}, {"name": "x/y", "data": b"y"}],
        "duplicate": good + [{"name": "lp_x.ko", "data": b"second"}],
        "setuid": good + [{"name": "suid", "data": b"x", "mode": 0o4755}],
        "dot": [{"name": "./", "type": tarfile.DIRTYPE}, {"name": "./lp_x.ko", "data": b"x"}],
        "empty-name": [{"name": "", "data": b"x"}],
        "long-name": [{"name": "d/" * 60 + "f", "data": b"x"}],
        "entries-16": [{"name": f"f{i}", "data": b"x"} for i in range(16)],
        "entries-17": [{"name": f"f{i}", "data": b"x"} for i in range(17)],
        "bytes-at-limit": [{"name": "big", "data": b"\0" * (1 << 20)}],
        "bytes-over-limit": [{"name": "big", "data": b"\0" * ((1 << 20) + 1)}],
    }
    for name, entries in cases.items():
        if name.startswith("bytes-"):  # small on disk, large unpacked
            write(d, name + ".tar.gz", tar_bytes(entries, compression="gz"))
        else:
            write(d, name + ".tar", tar_bytes(entries))
    write(d, "dotdot-pax.tar", tar_bytes(good + [{"name": "../pax-escaped", "data": b"x"}], fmt=tarfile.PAX_FORMAT))
    write(d, "bomb.tar.xz", tar_bytes([{"name": "big", "data": b"\0" * (4 << 20)}], compression="xz"))
    write(d, "symlink-parent.tar.gz", tar_bytes(cases["symlink-parent"], compression="gz"))
    t = tar_bytes(good)
    write(d, "truncated-header.tar", t[:300])
    write(d, "truncated-data.tar", t[:512 + 100])
    write(d, "no-end-blocks.tar", t[:-1024])
    write(d, "empty.tar", b"\0" * 1024)


# ---- ELF notes: a note section on every boundary of the file and itself -----
def elf(note, note_at_end=True, note_type=7, extra_sections=0, shstr=b"\0.shstrtab\0.note.Xen.signature\0"):
    """ELF64 LE: header, [note], shstrtab, section table, [note]."""
    out = bytearray(64)
    parts = {}
    if not note_at_end:
        parts["note"] = len(out)
        out += note
    parts["shstr"] = len(out)
    out += shstr
    while len(out) % 8:
        out += b"\0"
    shoff = len(out)
    nsec = 3 + extra_sections
    out += b"\0" * (64 * nsec)
    if note_at_end:
        parts["note"] = len(out)
        out += note

    def sh(i, name, typ, off, size):
        struct.pack_into("<IIQQQQIIQQ", out, shoff + 64 * i, name, typ, 0, 0, off, size, 0, 0, 1, 0)
    sh(1, 1, 3, parts["shstr"], len(shstr))                      # .shstrtab
    sh(2, 11, note_type, parts["note"], len(note))                # .note.Xen.signature
    for i in range(extra_sections):
        sh(3 + i, 11, note_type, parts["note"], len(note))        # the same name again
    ident = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    struct.pack_into("<16sHHIQQQIHHHHHH", out, 0, ident, 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, nsec, 1)
    return bytes(out)


def nhdr(namesz, descsz, ntype):
    return struct.pack("<III", namesz, descsz, ntype)


def elf_note():
    d = corpus("elf-note")
    final_type = 1  # version 1, RSA, SHA-256
    sig = b"\x5a" * 256
    good_final = nhdr(4, 256, final_type) + b"Xen\0" + sig
    good_draft = nhdr(4, 8 + 256, 0) + b"Xen\0" + struct.pack("<HBBI", 1, 0, 0, 256) + sig
    for at_end in (True, False):
        w = "end" if at_end else "mid"
        write(d, f"final-{w}.o", elf(good_final, at_end))
        write(d, f"draft-{w}.o", elf(good_draft, at_end))
        # The section holds exactly a note header (12 bytes) and names a 4-byte
        # name that is not there: at the end of the file that name is past it.
        write(d, f"header-only-namesz4-{w}.o", elf(nhdr(4, 0, final_type), at_end))
        for size in (0, 1, 11, 13, 15, 16):
            write(d, f"size{size}-{w}.o", elf((nhdr(4, 0, final_type) + b"Xen\0")[:size], at_end))
        for namesz in (0, 3, 5, 0xFFFFFFFF):
            write(d, f"namesz{namesz}-{w}.o", elf(nhdr(namesz, 256, final_type) + b"Xen\0" + sig, at_end))
        for descsz in (0, 127, 255, 257, 1025, 0xFFFFFFFF):
            write(d, f"descsz{descsz}-{w}.o", elf(nhdr(4, descsz, final_type) + b"Xen\0" + sig, at_end))
        write(d, f"draft-siglen-mismatch-{w}.o",
              elf(nhdr(4, 8 + 256, 0) + b"Xen\0" + struct.pack("<HBBI", 1, 0, 0, 255) + sig, at_end))
        write(d, f"draft-truncated-{w}.o", elf(nhdr(4, 7, 0) + b"Xen\0" + b"\1\0\0\0\0\0\0\0", at_end))
        write(d, f"two-notes-{w}.o", elf(good_final + good_final, at_end))
        write(d, f"progbits-{w}.o", elf(good_final, at_end, note_type=1))
    write(d, "wrong-type.o", elf(good_final, note_type=2))
    write(d, "duplicate-section.o", elf(good_final, extra_sections=1))
    write(d, "unknown-version.o", elf(nhdr(4, 256, 2) + b"Xen\0" + sig))
    write(d, "unknown-algorithm.o", elf(nhdr(4, 256, 1 | (1 << 16)) + b"Xen\0" + sig))
    write(d, "unknown-hash.o", elf(nhdr(4, 256, 1 | (1 << 24)) + b"Xen\0" + sig))
    write(d, "shstr-unterminated.o", elf(good_final, shstr=b"\0.shstrtab\0.note.Xen.signature"))
    base = elf(good_final)
    write(d, "header-only.o", base[:64])
    write(d, "truncated-shdr.o", base[:-len(good_final) - 1])
    write(d, "not-elf.o", b"\x7fELG" + base[4:])
    write(d, "elf32.o", base[:4] + b"\x01" + base[5:])
    write(d, "big-endian.o", base[:5] + b"\x02" + base[6:])


# ---- appended module signatures --------------------------------------------
def sig_info(sig_len, id_type=2, algo=0, hash_=0, signer_len=0, key_id_len=0):
    return struct.pack(">BBBBB3xI", algo, hash_, id_type, signer_len, key_id_len, sig_len)


def module_signature_edges(d, signed):
    """Trailer edge cases; `signed` is a validly signed module or None."""
    write(d, "magic-only", MAGIC)
    write(d, "info-and-magic", sig_info(0) + MAGIC)
    write(d, "siglen-1-no-body", b"\x30" + sig_info(1) + MAGIC)
    write(d, "siglen-equals-available", b"\x30\x00" + sig_info(2) + MAGIC)
    write(d, "siglen-exceeds", b"\x30\x00" + sig_info(3) + MAGIC)
    write(d, "siglen-max", b"\x30\x00" + sig_info(0xFFFFFFFF) + MAGIC)
    write(d, "id-type-1", b"body\x30\x00" + sig_info(2, id_type=1) + MAGIC)
    write(d, "nonzero-algo", b"body\x30\x00" + sig_info(2, algo=1) + MAGIC)
    write(d, "truncated-magic", b"body" + sig_info(2) + MAGIC[:-1])
    write(d, "two-trailers", b"body\x30\x00" + sig_info(2) + MAGIC + b"\x30\x00" + sig_info(2) + MAGIC)
    if signed:
        info_at = len(signed) - len(MAGIC) - 12
        sig_len = struct.unpack(">I", signed[info_at + 8:info_at + 12])[0]
        body_end = info_at - sig_len
        write(d, "signed-trailing-data", signed + b"\n")
        write(d, "signed-tampered-body", bytes([signed[0] ^ 1]) + signed[1:])
        write(d, "signed-tampered-sig", signed[:info_at - 20] + bytes([signed[info_at - 20] ^ 1]) + signed[info_at - 19:])
        write(d, "signed-empty-body", signed[body_end:])
        write(d, "signed-siglen-minus1", signed[:info_at] + sig_info(sig_len - 1) + MAGIC)
        write(d, "signed-siglen-plus1", signed[:info_at] + sig_info(sig_len + 1) + MAGIC)
        write(d, "signed-pkcs7-truncated", signed[:body_end] + signed[body_end:info_at - 1] + sig_info(sig_len - 1) + MAGIC)


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def module_signature():
    """The trailer parser (module-signature) and the whole verify() with its
    PKCS#7 and signer checks (module-verify, keyring module-verify/keyring)."""
    kv = os.path.join(HERE, "module-verify")
    signfile = sorted(glob.glob("/usr/lib/linux-kbuild-*/scripts/sign-file"))
    if not signfile:
        raise SystemExit("make-seeds.py: the kernel's sign-file is missing (apt-get install linux-kbuild-6.1)")
    tmp = os.path.join(kv, ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    os.makedirs(os.path.join(kv, "keyring"), exist_ok=True)
    key, cert = os.path.join(kv, "signing.key"), os.path.join(kv, "keyring", "signing.pem")
    if not os.path.exists(key):  # test-only key: these seeds must verify against it
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "36500", "-subj", "/CN=fuzz signing key",
            "-keyout", key, "-out", cert)
    der = os.path.join(tmp, "c.der")
    run("openssl", "x509", "-in", cert, "-outform", "DER", "-out", der)
    rkey, rcert = os.path.join(tmp, "rogue.key"), os.path.join(tmp, "rogue.der")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=rogue", "-keyout", rkey,
        "-outform", "DER", "-out", rcert)
    ekey, ecert = os.path.join(tmp, "ec.key"), os.path.join(tmp, "ec.der")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
        "-subj", "/CN=ec", "-keyout", ekey, "-outform", "DER", "-out", ecert)

    def sign(body, hash_, k, c):
        p = os.path.join(tmp, "m.ko")
        with open(p, "wb") as f:
            f.write(body)
        run(signfile[-1], hash_, k, c, p)
        return open(p, "rb").read()
    body = b"\x7fELF" + bytes(range(256)) * 4
    seeds = {
        "signed-sha512": sign(body, "sha512", key, der),
        "signed-sha256": sign(body, "sha256", key, der),
        "signed-rogue": sign(body, "sha512", rkey, rcert),
        "signed-ecdsa": sign(body, "sha512", ekey, ecert),
        "signed-1-byte-body": sign(b"\0", "sha512", key, der),
    }
    signed = seeds["signed-sha512"]
    info_at = len(signed) - len(MAGIC) - 12
    sig_len = struct.unpack(">I", signed[info_at + 8:info_at + 12])[0]
    pkcs7 = signed[info_at - sig_len:info_at]
    rogue = seeds["signed-rogue"]
    r_at = len(rogue) - len(MAGIC) - 12
    r_len = struct.unpack(">I", rogue[r_at + 8:r_at + 12])[0]
    # Our body, the rogue key's PKCS#7: a signer that is not in the keyring.
    seeds["swapped-signature"] = body + rogue[r_at - r_len:r_at] + sig_info(r_len) + MAGIC
    seeds["pkcs7-not-der"] = body + b"A" * sig_len + sig_info(sig_len) + MAGIC
    seeds["pkcs7-trailing-byte"] = body + pkcs7 + b"\0" + sig_info(sig_len + 1) + MAGIC
    for target in ("module-signature", "module-verify"):
        d = corpus(target)
        for name, data in seeds.items():
            write(d, name, data)
        module_signature_edges(d, signed)
    shutil.rmtree(tmp)


def catalogue():
    """The server's catalogue document (tools/server/src/catalogue.h)."""
    d = corpus("catalogue")
    patch = ('{file: lp_a-1.tar.xz, name: lp_a, version: "1", published: 2026-11-01T00:00:00Z, tier: canary, '
             'tier-since: 2026-11-02T00:00:00Z, replace: true, source: upstream, verified-by: listing, '
             'fixes: [{name: cve-2024-1, description: "x", bug: "lp#1", patched: true}]}')
    kernel = "{kernel: 6.1.0-1-amd64, architecture: x86_64, supported: supported, patches: [%s]}"
    write(d, "full.yaml", "tiers: [{name: canary, soak: 3d}, stable]\nkernels: [%s]\n" % (kernel % patch))
    write(d, "block.yaml", "tiers:\n  - canary\n  - stable\nkernels:\n  - kernel: k\n    architecture: x86_64\n"
                           "    patches:\n      - file: f.tar.xz\n        name: p\n        version: \"2\"\n")
    write(d, "empty.yaml", "")
    write(d, "null.yaml", "~\n")
    for bad in ("../x", "a/b", ".hidden", "x" * 201):
        write(d, "file-" + str(len(bad)) + ".yaml", "kernels: [%s]\n" % (kernel % patch.replace("lp_a-1.tar.xz", bad)))
    for soak in ("0s", "-1d", "soon", "99999999999999999999d"):
        write(d, "soak-" + soak.replace("-", "m") + ".yaml", "tiers: [{name: c, soak: %s}]\n" % soak)
    write(d, "flags.yaml", "kernels: [%s]\n" % (kernel % patch.replace("replace: true", "replace: maybe")))
    write(d, "source.yaml", "kernels: [%s]\n" % (kernel % patch.replace("source: upstream", "source: mars")))
    write(d, "deep.yaml", "[" * 300 + "]" * 300 + "\n")
    write(d, "anchors.yaml", "a: &a [x, x]\nb: &b [*a, *a]\nkernels: [*b]\n")


if __name__ == "__main__":
    catalogue()
    patch_metadata()
    updates()
    config()
    unpack()
    elf_note()
    module_signature()
