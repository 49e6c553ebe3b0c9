# Helpers for the prefetch (follow job) tests, not a test itself; source it
# after tests/lib/common.sh and tests/lib/detmaster.sh.

# The latest downloadable checkpoint of trial 1 (for ckt_det_q).
CKT_PF_LATEST_EXPR='[c["uuid"] for c in sorted([c for c in d["checkpoints"] if c["trialId"]==1 and c["state"] in ("STATE_COMPLETED","STATE_PARTIALLY_DELETED") and c.get("stepsCompleted") is not None], key=lambda c: -c["stepsCompleted"])][0]'

# ckt_pf_start: a temporary directory, the stand-in, a daemon using it as its
# master, the working directory there; out=$CKT_TMP/out, dir=$out/trial-1.
ckt_pf_start() {
    ckt_tmpdir
    ckt_detmaster_start
    DET_MASTER=$CKT_DET_URL ckt_daemon_start
    cd "$CKT_TMP"
    out=$CKT_TMP/out
    dir=$out/trial-1
}

# ckt_pf_add_checkpoint TRIAL: a new COMPLETED checkpoint at the stand-in; prints its uuid.
ckt_pf_add_checkpoint() {
    curl -sf -X POST "$CKT_DET_URL/_ctl/trials/$1/checkpoints" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])'
}

# ckt_pf_wait_pointer LINK UUID SECONDS: until LINK leads to UUID.
ckt_pf_wait_pointer() {
    local deadline
    deadline=$(echo "$(date +%s.%N) + $3" | bc)
    while [ "$(readlink "$1" 2>/dev/null || true)" != "$2" ]; do
        if [ "$(echo "$(date +%s.%N) > $deadline" | bc)" = 1 ]; then
            ckt_fail "$1 -> '$(readlink "$1" 2>/dev/null || true)', not $2 after $3 s"
        fi
        sleep 0.05
    done
}

# ckt_pf_same DIR UUID: the copy equals the stand-in's storage, manifest aside.
ckt_pf_same() {
    diff -r -x .ckptd.xxh128 -x .ckptd.json "$CKT_DET_DATA/$2" "$1/" || ckt_fail "$1 differs from the storage of $2"
    (cd "$1/" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "$1 fails its manifest"
}

# ckt_pf_count DIR: checkpoint directories in DIR (not the pointer, not staging).
ckt_pf_count() { find "$1" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | wc -l; }

# ckt_pf_wait_count DIR N SECONDS
ckt_pf_wait_count() {
    local i
    for i in $(seq 1 $(($3 * 10))); do
        [ "$(ckt_pf_count "$1")" -eq "$2" ] && return 0
        sleep 0.1
    done
    ls -la "$1" >&2
    ckt_fail "$1 holds $(ckt_pf_count "$1") checkpoint directories, not $2"
}

# ckt_pf_bytes PATH: apparent bytes of the regular files under PATH (0 when gone).
ckt_pf_bytes() {
    python3 - "$1" <<'PY'
import os, sys
total = 0
for root, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        try:
            st = os.lstat(os.path.join(root, f))
        except OSError:
            continue
        if os.path.isfile(os.path.join(root, f)) and not os.path.islink(os.path.join(root, f)):
            total += st.st_size
print(total)
PY
}

# ckt_pf_wait_log JOB TEXT SECONDS: until `ckpt job JOB` shows TEXT (a fixed string).
ckt_pf_wait_log() {
    local i
    for i in $(seq 1 $(($3 * 10))); do
        grep -qF -- "$2" <(ckpt job "$1") && return 0
        sleep 0.1
    done
    ckpt job "$1" >&2
    ckt_fail "job $1 did not log '$2' within $3 s"
}
