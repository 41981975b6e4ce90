#!/usr/bin/env bash
# Regenerates the parts of the fuzz corpora (tests/fuzz/corpus/) that come
# from the real binary: a small county is played with build/qingling (or
# $QINGLING_BIN), and its entries, checkpoints, cosignatures, key files,
# proofs, state file and tlog-tiles export become seeds. The other seeds
# (imports, calendars, workflows, codec and Merkle inputs, and the worked
# examples of docs/formats.md) are committed as they are.
#
# Run from the top of the tree after `make`: bash tests/fuzz/mkcorpus.sh.
# It needs python3 (to pack files) and a C compiler with libsodium (for one
# key file at a tiny passphrase cost, which qingling never writes). Keys
# and nonces are random, so each run gives other bytes of the same shapes.
set -euo pipefail

Q=${QINGLING_BIN:-build/qingling}
C=tests/fuzz/corpus
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export QINGLING_DB=$W/c.db
unset QINGLING_KEY QINGLING_PASSPHRASE_FILE

key() { "$Q" key new "$W/$1.key" --name "$1" --no-passphrase >/dev/null 2>&1; }
as() {
    local who=$1 date=$2
    shift 2
    QINGLING_NOW="${date}T02:00:00Z" QINGLING_KEY="$W/$who.key" "$Q" "$@"
}
move() {
    local who=$1 date=$2 id=$3 t=$4
    shift 4
    local args=()
    for f in "$@"; do args+=(--field "$f"); done
    as "$who" "$date" lead move "$id" "$t" "${args[@]}" >/dev/null
}

# ---- a small county: one lead through its whole life, one commitment ----
key admin
"$Q" --key "$W/admin.key" init --origin fuzz.example/county \
    --admin-key "$W/admin.key" >/dev/null
A() { as admin 2025-03-01 "$@" >/dev/null; }
A unit add SH --name 扫黑办 --kind supervision
A unit add ZR --name 自然资源局 --kind member
A unit add JW --name 纪委监委 --kind audit
for p in sh-reg:registrar sh-tri:triage sh-dir:director sh-insp:inspector; do
    key "${p%%:*}"
    A principal add "$W/${p%%:*}.key.pub" --unit SH --role "${p#*:}"
done
for p in zr-lly:liaison zr-hc1:verifier zr-hc2:verifier zr-head:head; do
    key "${p%%:*}"
    A principal add "$W/${p%%:*}.key.pub" --unit ZR --role "${p#*:}"
done
key jw-aud
A principal add "$W/jw-aud.key.pub" --unit JW --role auditor
A workflow add workflows/gang_lead.lua
A calendar set workflows/calendars/cn.cal
L1=$(as sh-reg 2025-03-04 lead add --unit SH --field source=群众举报 \
    --field received_at=2025-03-04 --field channel=来信 --field named=实名 \
    --field "subjects=张某某" --field locality=桐渡镇 --field industry=自然资源 \
    --field "summary=非法采砂" --field "reporter=举报人甲")
move sh-tri 2025-03-05 "$L1" triage
as sh-tri 2025-03-06 lead move "$L1" assign --field handling_unit=ZR \
    --field due_at=2025-04-06 --field priority=一般 \
    --field "assign_no=青扫交〔2025〕1号" --field offence_types=强迫交易 \
    --field umbrella_flag=否 >/dev/null
as sh-dir 2025-03-06 lead approve "$L1" >/dev/null
move zr-lly 2025-03-07 "$L1" sign "verifiers=zr-hc1
zr-hc2"
move zr-hc1 2025-03-10 "$L1" contact "contact_log=电话联系"
as zr-head 2025-03-11 commit sign --unit ZR --cycle 2025Q1 \
    --cutoff 2025-03-31 --deadline 2025-04-30 >/dev/null
as zr-hc1 2025-04-02 lead move "$L1" report --field finding=部分查实 \
    --field findings_detail=走访 --field umbrella_flag=否 --field assets=无 \
    --field "results=行政处罚" >/dev/null
as zr-head 2025-04-02 lead approve "$L1" >/dev/null
move sh-dir 2025-04-05 "$L1" approve review_opinion=同意
move zr-lly 2025-04-09 "$L1" feedback feedback_target=举报人 \
    feedback_method=电话 feedback_opinion=满意
as zr-head 2025-04-10 commit declare --unit ZR >/dev/null
as sh-insp 2025-04-11 commit sample --unit ZR >/dev/null
as sh-insp 2025-04-12 commit spotcheck "$L1" pass \
    --field "spot_opinion_no=青扫评〔2025〕1号" >/dev/null
as sh-insp 2025-04-13 commit verify --unit ZR >/dev/null
L2=$(as sh-reg 2025-04-14 lead add --unit SH --field source=群众举报 \
    --field received_at=2025-04-14 --field channel=来电 --field named=匿名 \
    --field "subjects=李某" --field locality=县城 --field industry=其他 \
    --field "summary=无具体事实")
move sh-tri 2025-04-15 "$L2" triage
as sh-tri 2025-04-16 lead move "$L2" park --field park_reason=无具体对象 \
    --field review_date=2025-07-15 >/dev/null
as sh-dir 2025-04-16 lead reject "$L2" --note 再核实 >/dev/null
A principal revoke zr-hc2
as jw-aud 2025-04-20 audit cosign --key "$W/jw-aud.key" \
    --trust "$W/admin.key.pub" >/dev/null
"$Q" audit export "$W/export" >/dev/null

mkdir -p $C/{note,entry,checkpoint,cosig,keyfile,vkey,proof,state,export,audit,seal}
rm -f $C/*/gen-*
python3 - "$W" "$C" <<'EOF'
import base64, hashlib, os, re, sqlite3, sys

w, c = sys.argv[1], sys.argv[2]
db = sqlite3.connect(os.path.join(w, 'c.db'))
def b(x):
    return x if isinstance(x, bytes) else x.encode()
notes = [b(n) for (n,) in db.execute('select note from entries order by idx')]
cps = [b(n) for (n,) in db.execute('select note from checkpoints order by size')]
def put(d, name, data):
    with open(os.path.join(c, d, name), 'wb') as f:
        f.write(data)

def action(note):
    return re.search(rb'\naction (\S+)\n', note).group(1).decode()
# entry and note: one entry of each action (the largest, a workflow, left out)
seen = set()
for i, n in enumerate(notes):
    a = action(n)
    if a in seen or len(n) > 4000:
        continue
    seen.add(a)
    put('entry', 'gen-%02d-%s' % (i, a), n)
    if a in ('genesis', 'principal.add', 'lead.approve', 'grant'):
        put('note', 'gen-%02d-%s' % (i, a), n)
# checkpoints, the cosigned last one, and cosignature lines
put('checkpoint', 'gen-first', cps[0])
cosigned = open(os.path.join(w, 'export', 'checkpoint'), 'rb').read()
put('checkpoint', 'gen-cosigned', cosigned)
put('cosig', 'gen-cosigned', cosigned)
put('note', 'gen-checkpoint-cosigned', cosigned)
# the county's vkeys
for m in sorted(set(re.findall(rb'clear (?:key|admin_key|log_key) (\S+)', b''.join(notes))))[:4]:
    put('vkey', 'gen-' + m.split(b'+')[0].decode().replace('/', '_'), m + b'\n')

# seal: a grant and a lead's sealed part, as the entries carry them
for n in notes:
    m = re.search(rb'\naction (grant|lead\.add)\n.*\npayload ([A-Za-z0-9+/=]+)\n', n,
                  re.S)
    if m is None:
        continue
    raw = base64.b64decode(m.group(2))
    if m.group(1) == b'grant' and not os.path.exists(os.path.join(c, 'seal', 'gen-grant')):
        put('seal', 'gen-grant', raw[2:2 + int.from_bytes(raw[:2], 'big')])
    if m.group(1) == b'lead.add' and not os.path.exists(os.path.join(c, 'seal', 'gen-payload')):
        put('seal', 'gen-payload', raw[4:4 + int.from_bytes(raw[:4], 'big')])

# audit: the log as texts to be signed again by the harness
wf = open('workflows/gang_lead.lua', 'rb').read()
cal = open('workflows/calendars/cn.cal', 'rb').read()
wfhash = hashlib.sha256(wf).hexdigest().encode()
vkey = re.compile(rb'([^\s+]+)\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*')
texts = []
for n in notes:
    t = n[:n.rindex(b'\n\n\xe2\x80\x94 ') + 1]
    t = vkey.sub(lambda m: b'{vkey ' + m.group(1) + b'}', t)
    t = t.replace(b'payload ' + base64.b64encode(wf) + b'\n', b'payload {wf}\n')
    t = t.replace(b'payload ' + base64.b64encode(cal) + b'\n', b'payload {cal}\n')
    t = t.replace(b'workflow ' + wfhash + b'\n', b'workflow {wfhash}\n')
    # Lead payloads are sealed: the verifier never opens them.
    if re.search(rb'\naction lead\.', t):
        t = re.sub(rb'\npayload [A-Za-z0-9+/=]+\n', b'\npayload AQIDBA==\n', t)
    for size_key, root_key in ((b'checkpoint_size', b'checkpoint_root'),
                               (b'seed_size', b'seed_root')):
        m = re.search(b'\nclear ' + size_key + rb' (\d+)\n', t)
        if m:
            t = re.sub(b'\nclear ' + root_key + rb' \S+\n',
                       b'\nclear ' + root_key + b' {root ' + m.group(1) + b'}\n', t)
    texts.append(t)
# Its length a multiple of four: the harness then verifies it on three
# threads as well.
county = b'%%\n'.join(texts) + b'%%\ncosign jw-aud\n'
put('audit', 'gen-county', county + b'\n' * (-len(county) % 4))
k = next(i for i, t in enumerate(texts) if b'action lead.add' in t)
put('audit', 'gen-registry', b'%%\n'.join(texts[:k]))
put('audit', 'gen-genesis', texts[0])

# export: the folder packed as the harness reads it
def pack(root):
    out = b''
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            p = os.path.join(d, f)
            name = os.path.relpath(p, root).encode()
            data = open(p, 'rb').read()
            out += bytes([len(name)]) + name + len(data).to_bytes(3, 'big') + data
    return out
put('export', 'gen-county', pack(os.path.join(w, 'export')))
EOF

# A second export, of the registry alone (no workflow: a small one).
rm -rf "$W/small" && mkdir "$W/small"
(
    export QINGLING_DB=$W/small/s.db
    "$Q" --key "$W/admin.key" init --origin fuzz.example/small \
        --admin-key "$W/admin.key" >/dev/null
    as admin 2025-03-01 unit add JW --name 纪委监委 --kind audit >/dev/null
    as admin 2025-03-01 principal add "$W/jw-aud.key.pub" --unit JW \
        --role auditor >/dev/null
    as jw-aud 2025-03-02 audit cosign --key "$W/jw-aud.key" \
        --trust "$W/admin.key.pub" >/dev/null
    "$Q" audit export "$W/small/export" >/dev/null
    cp "$W/small/s.db" "$W/small.db"
)
python3 - "$W/small/export" "$C/export/gen-small" <<'EOF'
import os, sys
out = b''
for d, _, files in sorted(os.walk(sys.argv[1])):
    for f in sorted(files):
        p = os.path.join(d, f)
        name = os.path.relpath(p, sys.argv[1]).encode()
        data = open(p, 'rb').read()
        out += bytes([len(name)]) + name + len(data).to_bytes(3, 'big') + data
open(sys.argv[2], 'wb').write(out)
EOF

# Proofs and the auditor's state, from the county's store.
"$Q" audit prove inclusion 5 >$C/proof/gen-inclusion
"$Q" audit prove inclusion 0 --size 1 >$C/proof/gen-inclusion-one
"$Q" audit prove consistency 3 20 >$C/proof/gen-consistency
"$Q" audit prove consistency 16 32 >$C/proof/gen-consistency-pow2
"$Q" --json audit prove inclusion 7 >$C/proof/gen-inclusion.json
as jw-aud 2025-04-21 audit verify --trust "$W/admin.key.pub" \
    --state "$C/state/gen-state" >/dev/null

# Key files: plaintext, encrypted at qingling's cost, and at a tiny cost.
cp "$W/admin.key" $C/keyfile/gen-plain
cp "$W/admin.key.pub" $C/vkey/gen-admin.pub
printf 'test only\n' >"$W/pass"
QINGLING_PASSPHRASE_FILE=$W/pass "$Q" key new "$W/enc.key" --name enc \
    >/dev/null 2>&1
cp "$W/enc.key" $C/keyfile/gen-encrypted
cat >"$W/cheap.c" <<'EOF'
/* A qingling key file encrypted at ops=1 mem=8192 under "test only". */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

int
main(void)
{
    unsigned char seed[32], pk[32], sk[64], salt[16], nonce[24], dk[32];
    unsigned char ct[80], sum[32];
    char text[2048], b64[200];
    size_t n;

    if (sodium_init() < 0)
        return 1;
    memset(seed, 7, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    n = (size_t)snprintf(text, sizeof text,
                         "qingling-secret-key/1\nkey-name cheap\nprofile intl\n"
                         "kdf argon2id13 ops=1 mem=8192\nsalt ");
    sodium_bin2base64(b64, sizeof b64, salt, sizeof salt,
                      sodium_base64_VARIANT_ORIGINAL);
    n += (size_t)snprintf(text + n, sizeof text - n, "%s\nnonce ", b64);
    sodium_bin2base64(b64, sizeof b64, nonce, sizeof nonce,
                      sodium_base64_VARIANT_ORIGINAL);
    n += (size_t)snprintf(text + n, sizeof text - n, "%s\n", b64);
    if (crypto_pwhash(dk, sizeof dk, "test only", 9, salt, 1, 8192,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return 1;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, sk, sizeof sk,
                                               (unsigned char *)text, n, NULL,
                                               nonce, dk);
    sodium_bin2base64(b64, sizeof b64, ct, sizeof ct,
                      sodium_base64_VARIANT_ORIGINAL);
    n += (size_t)snprintf(text + n, sizeof text - n, "key %s\n", b64);
    crypto_hash_sha256(sum, (unsigned char *)text, n);
    sodium_bin2base64(b64, sizeof b64, sum, sizeof sum,
                      sodium_base64_VARIANT_ORIGINAL);
    n += (size_t)snprintf(text + n, sizeof text - n, "check %s\n", b64);
    fwrite(text, 1, n, stdout);
    return 0;
}
EOF
${CC:-cc} -o "$W/cheap" "$W/cheap.c" $(pkg-config --cflags --libs libsodium)
"$W/cheap" >$C/keyfile/gen-cheap
echo "corpora written under $C"
