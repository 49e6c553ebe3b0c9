#!/usr/bin/env bash
# End to end, master and login per command, as det picks them: one daemon
# (started without any master) serves commands for three Determined
# stand-ins at once, each with users of its own that check the token:
#   A (alice only): the token det's token store holds (auth.json written in
#     det's format, found through XDG_CONFIG_HOME), never a login;
#   B (bob only): DET_USER with DET_PASS, with -m/--master; DET_USER alone
#     is ignored (det's default user then, whom B refuses);
#   C (https, self-signed, the default user): DET_MASTER_CERT_FILE with the
#     certificate, or "noverify"; without it TLS fails.
# Jobs record only the master's URL; no token or password reaches the job
# records, the database or the log.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
ckt_tmpdir
cd "$CKT_TMP"
command -v openssl >/dev/null || ckt_fail "openssl is needed"

CKT_DET_NAME=a CKT_DET_DATA=$CKT_TMP/data-a ckt_detmaster_start --seed 1 --user alice:alice-pw-a1
A=$CKT_DET_URL
CKT_DET_NAME=b CKT_DET_DATA=$CKT_TMP/data-b ckt_detmaster_start --seed 2 --user bob:bob-pw-b2
B=$CKT_DET_URL
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout c.key -out c.pem 2>/dev/null ||
    ckt_fail "openssl cannot make a self-signed certificate"
CKT_DET_NAME=c CKT_DET_DATA=$CKT_TMP/data-c ckt_detmaster_start --seed 3 \
    --user determined: --tls-cert c.pem --tls-key c.key
C=$CKT_DET_URL
[ "${C%%:*}" = https ] || ckt_fail "stand-in C is not https: $C"

# The daemon knows no master and has no login of its own (an empty HOME);
# every command runs with a clean det environment plus what it sets.
unset DET_MASTER DET_MASTER_ADDR DET_USER DET_PASS DET_USER_TOKEN DET_MASTER_CERT_FILE \
    XDG_CONFIG_HOME DET_DEBUG_CONFIG_PATH
mkdir -p daemon-home user-home
HOME=$CKT_TMP/daemon-home ckt_daemon_start
run() { env HOME="$CKT_TMP/user-home" "$@"; }

stats() { curl -sf ${2:+--cacert c.pem} "$1/_ctl/stats"; }      # URL [tls]
count() { python3 -c "import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))" "$1"; }
uuid_of() { # URL: the best COMPLETED checkpoint of experiment 1
    curl -sf ${2:+--cacert c.pem} "$1/_ctl/dataset" | python3 -c 'import json,sys; print(json.load(sys.stdin)["demo"]["top3"][0])'
}
ua=$(uuid_of "$A"); ub=$(uuid_of "$B"); uc=$(uuid_of "$C" tls)
[ "$ua" != "$ub" ] || ckt_fail "the stand-ins share checkpoints; the test would prove nothing"

ckt_log "no master anywhere: a clear error"
rc=0; run "$CKPT" --socket "$CKT_SOCK" checkpoint describe "$ua" > /dev/null 2> nomaster.err || rc=$?
[ $rc -eq 1 ] && grep -q "no Determined master: give -m/--master URL or DET_MASTER" nomaster.err ||
    { cat nomaster.err; ckt_fail "no master: status $rc"; }

ckt_log "A: the token det's token store holds (auth.json, version 2), no login"
tok_a=$(curl -sf "$A/api/v1/auth/login" -d '{"username":"alice","password":"alice-pw-a1","isHashed":false}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
mkdir -p cfg/determined
python3 - "$A" "$tok_a" > cfg/determined/auth.json <<'PY'
import json, sys
# det's TokenStore writes this (json.dump(store, f, indent=4, sort_keys=True)).
print(json.dumps({"version": 2, "masters": {
    sys.argv[1]: {"active_user": "alice", "tokens": {"alice": sys.argv[2], "other": "x"}},
    "http://elsewhere:8080": {"active_user": "zed", "tokens": {"zed": "nope"}}}},
    indent=4, sort_keys=True))
PY
chmod 600 cfg/determined/auth.json
curl -sf -X POST "$A/_ctl/stats/reset" > /dev/null
# DET_MASTER without a port or scheme would not be A; det's canonical form is.
run XDG_CONFIG_HOME="$CKT_TMP/cfg" DET_MASTER="$A/" "$CKPT" --socket "$CKT_SOCK" \
    experiment list-checkpoints 1 > a_lc.out
grep -q "$ua" a_lc.out || { cat a_lc.out; ckt_fail "A's list lacks $ua"; }
logins=$(stats "$A" | count "POST /api/v1/auth/login")
alice=$(stats "$A" | count "user:alice")
[ "$logins" -eq 0 ] && [ "$alice" -ge 2 ] ||
    ckt_fail "A: $logins logins, $alice requests as alice (want the stored token, no login)"

ckt_log "B: DET_USER with DET_PASS and -m; DET_USER alone is ignored"
run DET_USER=bob DET_PASS=bob-pw-b2 "$CKPT" --socket "$CKT_SOCK" -m "$B" \
    experiment list-checkpoints 1 > b_lc.out
grep -q "$ub" b_lc.out || { cat b_lc.out; ckt_fail "B's list lacks $ub"; }
[ "$(stats "$B" | count user:bob)" -ge 2 ] || ckt_fail "B served no request as bob"
# A fresh session (a master URL B has under another name: localhost) so
# that nothing from the command above helps.
Bl=http://localhost:${B##*:}
rc=0
run DET_USER=bob "$CKPT" --socket "$CKT_SOCK" checkpoint describe "$ub" -m "$Bl" > /dev/null \
    2> b_alone.err || rc=$?
[ $rc -eq 1 ] && grep -q "cannot log in to the master as 'determined'" b_alone.err ||
    { cat b_alone.err; ckt_fail "DET_USER alone: status $rc (want det's default user, refused)"; }

ckt_log "jobs for A and B at once in one daemon, each with its own login"
run XDG_CONFIG_HOME="$CKT_TMP/cfg" DET_MASTER="$A" "$CKPT" --socket "$CKT_SOCK" \
    checkpoint download "$ua" -o got-a -q > dl_a.out 2> dl_a.err & pa=$!
run DET_USER=bob DET_PASS=bob-pw-b2 DET_MASTER="$B" "$CKPT" --socket "$CKT_SOCK" \
    checkpoint download "$ub" -o got-b -q > dl_b.out 2> dl_b.err & pb=$!
wait $pa || { cat dl_a.err; ckt_fail "download from A failed"; }
wait $pb || { cat dl_b.err; ckt_fail "download from B failed"; }
[ "$(cat dl_a.out)" = got-a ] && [ "$(cat dl_b.out)" = got-b ] || ckt_fail "det's -q output"
diff -r -x '.ckptd*' "$CKT_TMP/data-a/$ua" got-a || ckt_fail "got-a differs from A's storage"
diff -r -x '.ckptd*' "$CKT_TMP/data-b/$ub" got-b || ckt_fail "got-b differs from B's storage"
: > jobs.json
for id in $(ckpt jobs --all --json | python3 -c 'import json,sys; print(" ".join(str(j["id"]) for j in json.load(sys.stdin)["jobs"]))'); do
    ckpt job "$id" --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["job"]))' >> jobs.json
done
python3 - "$A" "$B" "$ua" "$ub" jobs.json <<'PY'
import json, sys
A, B, ua, ub, path = sys.argv[1:]
jobs = [json.loads(line) for line in open(path)]
by_uuid = {j["source"].get("uuid"): j for j in jobs if j["source"].get("kind") == "checkpoint"}
assert by_uuid[ua]["source"]["master"] == A, by_uuid[ua]["source"]
assert by_uuid[ub]["source"]["master"] == B, by_uuid[ub]["source"]
assert all(j["state"] == "done" for j in (by_uuid[ua], by_uuid[ub])), [j["state"] for j in jobs]
PY
[ "$(stats "$A" | count user:bob)" -eq 0 ] && [ "$(stats "$B" | count user:alice)" -eq 0 ] ||
    ckt_fail "a login went to the wrong master"

ckt_log "prefetch -m B: the follow job and its checkpoint jobs name B"
fid=$(run DET_USER=bob DET_PASS=bob-pw-b2 "$CKPT" --socket "$CKT_SOCK" prefetch trial 1 --latest \
    --keep 1 --interval 1 -o pf -m "$B")
for _ in $(seq 1 100); do [ -e pf/trial-1/latest/metadata.json ] && break; sleep 0.2; done
[ -e pf/trial-1/latest/metadata.json ] || { ckpt job "$fid" >&2; ckt_fail "the prefetch from B got nothing"; }
latest=$(readlink pf/trial-1/latest)
diff -r -x '.ckptd*' "$CKT_TMP/data-b/$latest" "pf/trial-1/$latest" || ckt_fail "the prefetched copy differs"
ckpt prefetch stop "$fid" > /dev/null
ckpt job "$fid" --json | grep -q "\"master\": *\"$B\"" || ckt_fail "the follow job does not name B"

ckt_log "C over TLS: self-signed fails; DET_MASTER_CERT_FILE=noverify and the cert file pass"
rc=0
run DET_MASTER="$C" "$CKPT" --socket "$CKT_SOCK" checkpoint describe "$uc" > /dev/null 2> c_bad.err || rc=$?
[ $rc -eq 1 ] && grep -qi "certificate\|ssl\|tls" c_bad.err || { cat c_bad.err; ckt_fail "self-signed accepted (status $rc)"; }
run DET_MASTER="$C" DET_MASTER_CERT_FILE=NoVerify "$CKPT" --socket "$CKT_SOCK" \
    checkpoint describe "$uc" > c_nov.out || ckt_fail "noverify"
grep -q "$uc" c_nov.out || ckt_fail "noverify: no checkpoint shown"
# A new session (localhost) so the certificate is what makes it work.
Cl=https://localhost:${C##*:}
cp c.pem "$CKT_TMP/user-home/master.crt"
(cd user-home && run DET_MASTER="$Cl" DET_MASTER_CERT_FILE=master.crt \
    "$CKPT" --socket "$CKT_SOCK" checkpoint download "$uc" -q > ../c_dl.out) || ckt_fail "cert file"
[ "$(cat c_dl.out)" = "checkpoints/$uc" ] || ckt_fail "C: -q printed '$(cat c_dl.out)'"
diff -r -x '.ckptd*' "$CKT_TMP/data-c/$uc" "user-home/checkpoints/$uc" || ckt_fail "C's copy differs"
[ "$(stats "$C" tls | count user:determined)" -ge 2 ] || ckt_fail "C served nobody"
rc=0
run DET_MASTER="$C" DET_MASTER_CERT_FILE=/nonexistent/x.pem "$CKPT" --socket "$CKT_SOCK" \
    checkpoint describe "$uc" > /dev/null 2> c_missing.err || rc=$?
grep -q "DET_MASTER_CERT_FILE=/nonexistent/x.pem path not found; continuing without cert" c_missing.err ||
    { cat c_missing.err; ckt_fail "no warning for a missing DET_MASTER_CERT_FILE"; }

ckt_log "a corrupt token store is ignored with a warning"
echo '{"version": 2, "masters": {"x": {"tokens": {"u": 1}}}}' > cfg/determined/auth.json
rc=0
run XDG_CONFIG_HOME="$CKT_TMP/cfg" DET_MASTER="$B" DET_USER=bob DET_PASS=bob-pw-b2 \
    "$CKPT" --socket "$CKT_SOCK" checkpoint describe "$ub" > /dev/null 2> corrupt.err || rc=$?
[ $rc -eq 0 ] && grep -q "ignoring det's token store '$CKT_TMP/cfg/determined/auth.json': not in the format det writes" corrupt.err ||
    { cat corrupt.err; ckt_fail "corrupt store: status $rc"; }
grep -q '"u": 1' cfg/determined/auth.json || ckt_fail "ckpt changed det's token store"

ckt_log "nothing secret in the job records, the database or the log"
for id in $(ckpt jobs --all --json | python3 -c 'import json,sys; print(" ".join(str(j["id"]) for j in json.load(sys.stdin)["jobs"]))'); do
    ckpt job "$id" --json
done > jobs2.json
ckt_daemon_stop
for f in jobs2.json "$CKT_TMP/ckptd.log"; do
    ! grep -q -e "$tok_a" -e bob-pw-b2 -e alice-pw-a1 "$f" || ckt_fail "a secret is in $f"
done
! sqlite3 "$CKT_STATE/ckptd.db" .dump | grep -q -e "$tok_a" -e bob-pw-b2 ||
    ckt_fail "a secret is in the database"
[ ! -e "$CKT_STATE/master-token" ] || ! grep -q "$tok_a" "$CKT_STATE/master-token" ||
    ckt_fail "a client's token was cached"
ckt_log "ckptd --master C --master-ca: the daemon's own master over TLS"
CKT_LOG_LEVEL=info ckt_daemon_start --master "$C" --master-ca "$CKT_TMP/c.pem"
run "$CKPT" --socket "$CKT_SOCK" checkpoint describe "$uc" > c_own.out || ckt_fail "--master-ca"
grep -q "$uc" c_own.out || ckt_fail "--master-ca: no checkpoint shown"
echo PASS
