# Sourced by run-bench.sh and tuf-bench.sh (after lib.sh): the shell baseline of a full
# refresh cycle, the same commands an administrator would run by hand.
# shell_cycle_ms W PORT MACHINE_TOKEN RUNS: median ms of curl (authenticated
# download from the reference server) + sha256sum + tar + openssl cms -verify
# + cp of the demo patch 1 ($W/demo from make-demo-data.sh). Needs T (time_cmd.py).
shell_cycle_ms() {
  local w=$1 port=$2 token=$3 runs=$4
  tar -xOf "$w/demo/server/patches/lp_demo-1.tar.xz" lp_demo.ko > "$w/demo.ko"
  /usr/bin/python3 - "$w/demo.ko" "$w/demo" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
siglen = struct.unpack(">I", data[-28 - 4:-28])[0]
body_end = len(data) - 28 - 12 - siglen
open(sys.argv[2] + ".body", "wb").write(data[:body_end]); open(sys.argv[2] + ".p7s", "wb").write(data[body_end:body_end + siglen])
PY
  T --runs "$runs" --setup "rm -rf '$w/x' '$w/dl.tar.xz' '$w/copied.ko' && mkdir -p '$w/x'" -- \
    curl -sf --cacert "$w/demo/tls/ca.pem" -H "Authorization: Bearer $token" -o "$w/dl.tar.xz" \
      "https://127.0.0.1:$port/v1/patches/lp_demo-1.tar.xz" --- \
    sha256sum "$w/dl.tar.xz" --- tar -xJf "$w/dl.tar.xz" -C "$w/x" --- \
    openssl cms -verify -binary -inform DER -in "$w/demo.p7s" -content "$w/demo.body" -certfile "$w/demo/keyring/signing.pem" \
      -nointern -noverify -out /dev/null --- \
    cp "$w/x/lp_demo.ko" "$w/copied.ko"
}
