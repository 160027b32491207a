#!/bin/sh
# Test support: PEM files in DIR for TLS to a server at IP: a CA (ca.pem), a server certificate
# it signed for IP (server.pem, server.key), a client certificate it signed (client.pem,
# client.key), and a second CA that signed neither (other-ca.pem). Usage: test_certs.sh DIR IP
set -eu
dir=$1
ip=$2
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1"; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=trainrun-test-ca
key other-ca.key
openssl req -x509 -new -key other-ca.key -out other-ca.pem -days 2 -subj /CN=trainrun-other-ca
sign() {  # name, common name, extensions
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2"
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" \
    -days 2 -extfile "$1.ext" 2>/dev/null
}
sign server etcd "subjectAltName=IP:$ip"
sign client trainrun "extendedKeyUsage=clientAuth"
