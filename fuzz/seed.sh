#!/usr/bin/env bash
# Writes seed corpora for the fuzz targets into fuzz/corpus/<target>/ (git-ignored), or into
# the directory given as $1.
#
# Policy texts are written always. Certificates, CRLs and keys are generated fresh with openssl
# (a throwaway P-256 PKI: root, intermediate, leaves, CRLs); without openssl that part is
# skipped with a note, and the fuzzers start from an empty corpus. Seed file names are fixed,
# so re-running replaces the seeds instead of piling up new ones.
#
# The seed root carries the same subject name as fixtures/root.der (with its own key), so
# seeded chains and CRLs reach the signature checks against the fixture root in verify_chain
# and crl_load, where they must still be refused.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
corpus="${1:-$here/corpus}"
targets=(crl_load pem policy inspect verify_chain verify_mutated csr
  forwarded_xfcc forwarded_rfc9440 forwarded_url_pem forwarded_base64 app_attest
  android_key_description android_status_list client_hello audit_log)
for t in "${targets[@]}"; do mkdir -p "$corpus/$t"; done

# --- An audit log (no openssl needed): a start record and a gap, hash-chained -------------------
zero="0000000000000000000000000000000000000000000000000000000000000000"
l0='{"seq":0,"prev":"'"$zero"'","kind":"start","version":1,"reason":"open","truncated_bytes":0}'
h0="$(printf '%s' "$l0" | sha256sum | cut -d' ' -f1)"
l1='{"seq":1,"prev":"'"$h0"'","kind":"gap","dropped":3,"dropped_total":3}'
h1="$(printf '%s' "$l1" | sha256sum | cut -d' ' -f1)"
l2='{"seq":2,"prev":"'"$h1"'","kind":"verdict","time":1780272000,"action":"refuse","code":"no_certificate","codes":["no_certificate"],"chain":null,"policy":null}'
printf '%s\n%s\n%s\n' "$l0" "$l1" "$l2" >"$corpus/audit_log/seed-log.jsonl"

# --- Policy texts (no openssl needed) ------------------------------------------------------
pol="$corpus/policy"
cat >"$pol/seed-full.toml" <<'EOF'
pins = ["sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]

[trust]
anchors = []
intermediates = []

[revocation]
crls = []
depth = "leaf"
unknown = "allow"
expired_crl = "grace"
grace_hours = 24
denylist = ["01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef"]

[validity]
skew_seconds = 300

[identity]
source = "san_uri"
uri_prefix = "app://"
required = true

[profile]
strict = false
allow_missing_eku = true

[limits]
max_chain_len = 4
max_cert_bytes = 16384
max_chain_bytes = 32768
max_paths = 8

[[apps]]
id = "com.example.shop"
leaf_fingerprints = ["0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]

[[apps.pins]]
name = "intermediate-2026"
pin = "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
not_after = "2027-03-31T23:59:59Z"

[[apps.pins]]
name = "intermediate-2027"
pin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
not_before = "2027-01-01T00:00:00Z"

[[apps]]
id = "com.example.other"
pins = ["sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]

[[pins]]
name = "root"
pin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
not_before = "2026-01-01T00:00:00Z"
not_after = "2030-01-01T00:00:00Z"
EOF
cat >"$pol/seed-minimal.toml" <<'EOF'
[trust]
anchors = []
EOF
cat >"$pol/seed-files.toml" <<'EOF'
[trust]
anchors = ["root.pem"]
intermediates = ["intermediate.pem"]

[revocation]
crls = ["intermediate.crl.pem"]
expired_crl = "ignore"

[identity]
source = "subject_cn"
required = false
EOF
cat >"$pol/seed-limits.toml" <<'EOF'
[trust]
anchors = []

[identity]
source = "subject_ou"

[limits]
max_chain_len = 16
max_cert_bytes = 1048576
max_chain_bytes = 4194304
max_paths = 64
EOF
cat >"$pol/seed-full.json" <<'EOF'
{
  "pins": [
    {"name": "root", "pin": "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "not_before": "2026-01-01T00:00:00Z"},
    "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
  ],
  "trust": {"anchors": [], "intermediates": []},
  "revocation": {"crls": [], "depth": "chain", "unknown": "deny", "expired_crl": "enforce",
                 "denylist": ["0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]},
  "validity": {"skew_seconds": 86400},
  "identity": {"source": "san_uri", "uri_prefix": "https://apps.example.com/id/", "required": false},
  "profile": {"strict": true, "allow_missing_eku": false},
  "limits": {"max_chain_len": 1, "max_cert_bytes": 256, "max_chain_bytes": 256, "max_paths": 1},
  "apps": [
    {"id": "com.example.shop", "pins": [{"pin": "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "not_before": "2027-01-01T00:00:00Z", "not_after": "2026-01-01T00:00:00Z"}]},
    {"id": "com.example.shop"}
  ]
}
EOF
cat >"$pol/seed-grace.json" <<'EOF'
{"trust": {"anchors": []}, "revocation": {"expired_crl": "grace", "grace_hours": 2161}}
EOF

# --- Forwarded-header vectors (third-party data: copied into the git-ignored corpus at run
# time only, never committed) ---------------------------------------------------------------
vectors="${CERTGATE_VECTORS:-$here/../../shared/vectors}"
if [ -f "$vectors/README.md" ]; then
  v="$vectors"
  # One-line files, final newline removed.
  put() { tr -d '\n' <"$v/$2" >"$corpus/$1/$3"; }
  # Every non-comment line of a file, one seed each.
  lines() {
    local n=0 line
    while IFS= read -r line; do
      case "$line" in '#'* | '') continue ;; esac
      n=$((n + 1))
      printf '%s' "$line" >"$corpus/$1/$3-$n"
    done <"$v/$2"
  }
  put forwarded_xfcc constructed/envoy.XFCC.hash-cert-chain.txt seed-hash-cert-chain
  put forwarded_xfcc constructed/envoy.XFCC.injected-by-client-then-APPEND_FORWARD.txt seed-injected
  lines forwarded_xfcc xfcc/envoy-docs-examples.txt seed-docs
  lines forwarded_xfcc xfcc/envoy-integration-test-expected.txt seed-integration
  # forwarded_rfc9440 reads "Client-Cert\nClient-Cert-Chain".
  { tr -d '\n' <"$v/rfc9440/Client-Cert.txt"; printf '\n'; tr -d '\n' <"$v/rfc9440/Client-Cert-Chain.txt"; } \
    >"$corpus/forwarded_rfc9440/seed-cert-and-chain"
  put forwarded_rfc9440 rfc9440/Client-Cert.txt seed-cert
  put forwarded_url_pem constructed/alb-passthrough.X-Amzn-Mtls-Clientcert.all-escaped.txt seed-alb-all-escaped
  put forwarded_url_pem constructed/alb-passthrough.X-Amzn-Mtls-Clientcert.safe-plus-eq-slash.txt seed-alb-safe
  put forwarded_url_pem constructed/alb-verify.X-Amzn-Mtls-Clientcert-Leaf.safe-plus-eq-slash.txt seed-alb-leaf
  put forwarded_url_pem constructed/cloudfront.CloudFront-Viewer-Cert-Pem.txt seed-cloudfront
  put forwarded_base64 traefik/X-Forwarded-Tls-Client-Cert.leaf.txt seed-traefik-leaf
  put forwarded_base64 traefik/X-Forwarded-Tls-Client-Cert.leaf+ca.txt seed-traefik-leaf-ca
  put forwarded_base64 constructed/traefik.X-Forwarded-Tls-Client-Cert.leaf+intermediate.txt seed-traefik-constructed
  put forwarded_base64 constructed/cloudflare.Cf-Client-Cert-Der-Base64.txt seed-cloudflare
  put forwarded_base64 constructed/azure.X-ARR-ClientCert.txt seed-azure
  put forwarded_base64 constructed/haproxy.ssl_c_der_base64.txt seed-haproxy
  put forwarded_base64 constructed/haproxy.ssl_c_chain_der_base64.txt seed-haproxy-chain
  # app_attest: Apple's 2026 guide example (the object the target's fixed rule accepts) and the
  # attestations and assertions of the veehaitch iOS samples, decoded to CBOR.
  base64 -d "$v/apple/apple-validation-guide-2026-attestation.b64" >"$corpus/app_attest/seed-guide-2026"
  for f in "$v"/apple/veehaitch-ios-*.yaml; do
    name="$(basename "$f" .yaml)"
    sed -n 's/^attestationBase64: //p' "$f" | base64 -d >"$corpus/app_attest/seed-$name-attestation"
    sed -n 's/^assertionBase64: //p' "$f" | base64 -d >"$corpus/app_attest/seed-$name-assertion"
  done
  # Google's attestation status list sample (the KeyDescription seeds need openssl: below).
  cp "$v/android/google-android-key-attestation/status.sample.json" \
    "$corpus/android_status_list/seed-status-sample.json"
  printf '{"entries": {}}' >"$corpus/android_status_list/seed-empty.json"
  # client_hello: the 8 real ClientHellos (FoxIO's sample captures), each as the handshake
  # message and as one TLS record.
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$v/ja4/foxio-pcap-clienthellos.jsonl" "$corpus/client_hello" <<'PY'
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    if not line.strip():
        continue
    hello = bytes.fromhex(json.loads(line)["client_hello_handshake_hex"])
    open(f"{sys.argv[2]}/seed-foxio-{n}", "wb").write(hello)
    record = bytes([0x16, 3, 1]) + len(hello).to_bytes(2, "big") + hello
    open(f"{sys.argv[2]}/seed-foxio-{n}-record", "wb").write(record)
PY
  else
    echo "seed.sh: no python3; client_hello starts empty"
  fi
else
  echo "seed.sh: no vectors at $vectors (set CERTGATE_VECTORS); forwarded_*, app_attest and client_hello targets start empty"
fi

if ! command -v openssl >/dev/null 2>&1; then
  echo "seed.sh: openssl not found; wrote policy seeds only (the other targets start empty)"
  exit 0
fi

# --- Android KeyDescriptions: the attestation extension's value of every vector leaf --------
# (third-party data, written into the git-ignored corpus at run time only).
if [ -d "${v:-}/android" ]; then
  kd="$corpus/android_key_description"
  n=0
  while IFS= read -r pem; do
    leaf="$(mktemp)"
    # The first certificate of the chain (the leaf), as DER.
    openssl x509 -in "$pem" -outform DER -out "$leaf" 2>/dev/null || { rm -f "$leaf"; continue; }
    # The OCTET STRING after the extension's OID (skipping a `critical` BOOLEAN).
    off="$(openssl asn1parse -inform DER -in "$leaf" 2>/dev/null | awk '
      /:1\.3\.6\.1\.4\.1\.11129\.2\.1\.17/ { want = 1; next }
      want && /OCTET STRING/ { split($1, a, ":"); print a[1]; exit }')"
    if [ -n "$off" ]; then
      n=$((n + 1))
      openssl asn1parse -inform DER -in "$leaf" -strparse "$off" -noout \
        -out "$kd/seed-vector-$n.der" 2>/dev/null || rm -f "$kd/seed-vector-$n.der"
    fi
    rm -f "$leaf"
  done < <(find "$v/android" -name '*.pem' | sort)
fi

# --- A throwaway PKI -------------------------------------------------------------------------
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
ossl() { openssl "$@" 2>/dev/null; }

cat >openssl.cnf <<'EOF'
[req]
distinguished_name = dn
string_mask = utf8only
prompt = no
[dn]
CN = unused

[root_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[int_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:app://com.example.fuzz
crlDistributionPoints = URI:http://crl.example.com/int.crl
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[names_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth, serverAuth
subjectAltName = URI:https://apps.example.com/id/com.example.fuzz, URI:app://com.example.fuzz, DNS:fuzz.example.com, email:fuzz@example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[cn_ext]
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ca]
default_ca = int_ca
[int_ca]
database = int.index
crlnumber = int.crlnumber
default_md = sha256
default_crl_days = 30
crl_extensions = int_crl_ext
[root_ca]
database = root.index
crlnumber = root.crlnumber
default_md = sha256
default_crl_days = 30
crl_extensions = root_crl_ext
[int_crl_ext]
authorityKeyIdentifier = keyid:always
issuingDistributionPoint = critical, @int_idp
[int_idp]
fullname = URI:http://crl.example.com/int.crl
onlyuser = TRUE
[root_crl_ext]
authorityKeyIdentifier = keyid:always
EOF
: >int.index
: >root.index
echo 1000 >int.crlnumber
echo 01 >root.crlnumber

newkey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
# issue NAME SUBJECT EXT ISSUER SERIAL
issue() {
  newkey "$1.key"
  ossl req -new -config openssl.cnf -key "$1.key" -subj "$2" -out "$1.csr"
  ossl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -set_serial "$5" -days 825 \
    -sha256 -extfile openssl.cnf -extensions "$3" -out "$1.pem"
  ossl x509 -in "$1.pem" -outform DER -out "$1.der"
}

# The root has the fixture root's exact name (UTF8String O, then CN), not its key.
newkey root.key
ossl req -x509 -new -config openssl.cnf -key root.key -sha256 -days 3650 -set_serial 1 \
  -subj "/O=certgate fuzz/CN=certgate Fuzz Root CA" -extensions root_ext -out root.pem
ossl x509 -in root.pem -outform DER -out root.der
issue int "/O=certgate fuzz/CN=certgate Fuzz Intermediate CA" int_ext root 0x1001
issue leaf "/O=certgate fuzz/CN=fuzz leaf" leaf_ext int 0x2001
issue revoked "/O=certgate fuzz/CN=fuzz revoked leaf" leaf_ext int 0x2002
issue names "/O=certgate fuzz/OU=com.example.other/CN=fuzz names" names_ext int 0x2003
issue cn "/O=certgate fuzz/OU=com.example.ou/CN=com.example.fuzz" cn_ext int 0x2004

ossl ca -config openssl.cnf -name int_ca -cert int.pem -keyfile int.key -revoke revoked.pem \
  -crl_reason keyCompromise
ossl ca -config openssl.cnf -name int_ca -cert int.pem -keyfile int.key -gencrl -out int.crl.pem
ossl ca -config openssl.cnf -name root_ca -cert root.pem -keyfile root.key -gencrl \
  -out root.crl.pem
for c in int root; do ossl crl -in "$c.crl.pem" -outform DER -out "$c.crl.der"; done
ossl pkey -in leaf.key -traditional -out leaf.sec1.pem
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa.key
ossl pkey -in rsa.key -traditional -out rsa.pkcs1.pem

# --- Encoders --------------------------------------------------------------------------------
# Hex digits of a file, two per byte, no separators.
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }
# Bytes of a hex string.
unhex() {
  local hex="$1" out="" i
  for ((i = 0; i < ${#hex}; i += 2)); do out+="\\x${hex:i:2}"; done
  printf '%b' "$out"
}
be16() { unhex "$(printf '%04x' "$1")"; }
be64() { unhex "$(printf '%016x' "$1")"; }
# `arbitrary` 1.x's Vec<Vec<u8>> (what verify_chain decodes): per element a 1 byte, then per
# byte a 1 byte and the byte, then a 0 byte; a final 0 byte ends the list.
arbitrary_chain() {
  local f hex i out
  for f in "$@"; do
    hex="$(hexof "$f")"
    out="\\x01"
    for ((i = 0; i < ${#hex}; i += 2)); do out+="\\x01\\x${hex:i:2}"; done
    printf '%b' "$out\\x00"
  done
  printf '\0'
}
# verify_mutated: flags, now, then frames `kind len16 bytes` (kind:file pairs).
mutated() {
  local flags="$1" now="$2" spec kind file
  shift 2
  unhex "$(printf '%02x' "$flags")"
  be64 "$now"
  for spec in "$@"; do
    kind="${spec%%:*}" file="${spec#*:}"
    unhex "$(printf '%02x' "$kind")"
    be16 "$(wc -c <"$file")"
    cat "$file"
  done
}

# --- Corpora ---------------------------------------------------------------------------------
c="$corpus/crl_load"
cp int.crl.der "$c/seed-int-crl"
cp root.crl.der "$c/seed-root-crl"

c="$corpus/pem"
cp root.pem "$c/seed-root.pem"
cat leaf.pem int.pem >"$c/seed-chain.pem"
cp int.crl.pem "$c/seed-crl.pem"
cat int.crl.pem root.crl.pem >"$c/seed-crls.pem"
cp leaf.key "$c/seed-pkcs8.pem"
cp leaf.sec1.pem "$c/seed-sec1.pem"
cp rsa.pkcs1.pem "$c/seed-pkcs1.pem"
cat leaf.key names.pem root.crl.pem >"$c/seed-mixed.pem"
cp leaf.der "$c/seed-leaf.der"

c="$corpus/inspect"
for n in root int leaf names cn; do cp "$n.der" "$c/seed-$n"; done
cp "$here/fixtures/root.der" "$c/seed-fixture-root"

c="$corpus/verify_chain"
arbitrary_chain leaf.der int.der >"$c/seed-leaf-int"
arbitrary_chain leaf.der >"$c/seed-leaf"
arbitrary_chain names.der int.der root.der >"$c/seed-names-int-root"
arbitrary_chain int.der >"$c/seed-int"

c="$corpus/verify_mutated"
# The CRLs were issued just now, with a nextUpdate 30 days later.
issued=$(date +%s)
now=$((issued + 3600))
stale=$((issued + 30 * 24 * 3600 + 12 * 3600))
# Accepted: leaf + intermediate presented, both CRLs, strict profile.
mutated 0 "$now" 0:root.der 1:leaf.der 1:int.der 3:int.crl.der 3:root.crl.der >"$c/seed-accept-crls"
# Accepted: no CRLs; the intermediate configured rather than presented.
mutated 0 "$now" 0:root.der 1:leaf.der 2:int.der >"$c/seed-accept-configured"
# Refused: the revoked leaf.
mutated 0 "$now" 0:root.der 1:revoked.der 1:int.der 3:int.crl.der 3:root.crl.der \
  >"$c/seed-revoked"
# 12 h past the CRLs' nextUpdate, within the 24 h grace (bits 2-3 = 2): accepted as stale;
# leaf-only revocation depth (bit 0), since the root CRL is left out.
mutated 9 "$stale" 0:root.der 1:leaf.der 1:int.der 3:int.crl.der >"$c/seed-stale-crl"
# The four-name leaf, an allowlist (bit 7), skew (bit 4), no CRL for the intermediate but
# unknown status allowed (bit 1).
mutated 146 "$now" 0:root.der 1:names.der 1:int.der 3:int.crl.der >"$c/seed-names-allowlist"
# A leaf without SAN or basicConstraints: no app id, accepted only because bit 6 makes the app
# id optional.
mutated 64 "$now" 0:root.der 1:cn.der 1:int.der >"$c/seed-cn"

# csr: PKCS#10 requests, PEM and DER, for each key kind certgate accepts and two it refuses.
c="$corpus/csr"
for kind in p256:"-newkey ec -pkeyopt ec_paramgen_curve:P-256" p384:"-newkey ec -pkeyopt ec_paramgen_curve:P-384" \
  ed25519:"-newkey ed25519" rsa2048:"-newkey rsa:2048" rsa1024:"-newkey rsa:1024" \
  p521:"-newkey ec -pkeyopt ec_paramgen_curve:P-521"; do
  name="${kind%%:*}"
  # shellcheck disable=SC2086
  openssl req -new -nodes -subj "/CN=seed" ${kind#*:} -keyout "csr-$name.key" \
    -out "$c/seed-$name.pem" 2>/dev/null
  openssl req -in "$c/seed-$name.pem" -outform DER -out "$c/seed-$name.der"
done

echo "seed.sh: wrote seeds under $corpus"
