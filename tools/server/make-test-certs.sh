#!/usr/bin/env bash
# make-test-certs.sh OUTDIR: test PKI for TLS tests and demos (openssl CLI).
#   ca.pem/ca.key            test CA
#   server.pem/server.key    valid for localhost and 127.0.0.1
#   expired.pem/expired.key  expired (validity in the past)
#   wronghost.pem/.key       valid, but for wrong.example.invalid
#   untrusted.pem/.key       signed by another CA (other-ca.pem)
set -euo pipefail
out=${1:?usage: make-test-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=livepatch test CA" -keyout ca.key -out ca.pem
q openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=other test CA" -keyout other-ca.key -out other-ca.pem
leaf() { # name cn san ca startdate enddate
  local name=$1 cn=$2 san=$3 ca=$4 start=$5 end=$6
  q openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr"
  mkdir -p ca-db && : > ca-db/index.txt && echo 01 > ca-db/serial.txt 2>/dev/null || true
  cat > "$name.ext" <<EOT
[ca]
default_ca = ca_default
[ca_default]
database = ca-db/index.txt
serial = ca-db/serial.txt
new_certs_dir = ca-db
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[anything]
commonName = supplied
[ext]
subjectAltName = $san
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
EOT
  q openssl ca -batch -config "$name.ext" -extensions ext -cert "$ca.pem" -keyfile "$ca.key" \
      -startdate "$start" -enddate "$end" -in "$name.csr" -out "$name.pem" -notext
  rm -f "$name.csr" "$name.ext"
}
now=$(date -u +%s)
fmt() { date -u -d "@$1" +%Y%m%d%H%M%SZ; }
leaf server localhost "DNS:localhost,IP:127.0.0.1" ca "$(fmt $((now - 3600)))" "$(fmt $((now + 30 * 86400)))"
leaf expired localhost "DNS:localhost,IP:127.0.0.1" ca "$(fmt $((now - 30 * 86400)))" "$(fmt $((now - 86400)))"
leaf wronghost wrong.example.invalid "DNS:wrong.example.invalid" ca "$(fmt $((now - 3600)))" "$(fmt $((now + 30 * 86400)))"
leaf untrusted localhost "DNS:localhost,IP:127.0.0.1" other-ca "$(fmt $((now - 3600)))" "$(fmt $((now + 30 * 86400)))"
rm -rf ca-db
chmod 600 ./*.key
echo "test certificates in $out"
