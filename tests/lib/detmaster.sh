# Starts the Determined stand-in for a test: ckt_detmaster_start [EXTRA ARGS]
# sets CKT_DET_URL and CKT_DET_DATA; ckt_det_dataset prints /_ctl/dataset;
# ckt_det_reference UUID DIR unpacks the stand-in's archive of a checkpoint.
# With CKT_DET_NAME=x set, a further stand-in: its own port file and log
# (det-x.port, detmaster-x.log); with --tls-cert the URL is https.
ckt_detmaster_start() {
    CKT_DET_DATA=${CKT_DET_DATA:-$CKT_TMP/detdata}
    local sfx=${CKT_DET_NAME:+-$CKT_DET_NAME} scheme=http a
    for a in "$@"; do if [ "$a" = --tls-cert ]; then scheme=https; fi; done
    local portfile=$CKT_TMP/det$sfx.port
    rm -f "$portfile"
    python3 "$CKPT_SRC/tests/detmaster/detmaster.py" --port-file "$portfile" \
        --data "$CKT_DET_DATA" --quiet "$@" >>"$CKT_TMP/detmaster$sfx.log" 2>&1 &
    CKT_DET_PID=$!
    CKT_PIDS+=("$CKT_DET_PID")
    local i
    for i in $(seq 1 100); do
        [ -s "$portfile" ] && break
        kill -0 "$CKT_DET_PID" 2>/dev/null || ckt_fail "the Determined stand-in exited"
        sleep 0.1
    done
    [ -s "$portfile" ] || ckt_fail "the Determined stand-in did not start"
    CKT_DET_URL=$scheme://127.0.0.1:$(cat "$portfile")
}

ckt_det_dataset() { curl -sf "$CKT_DET_URL/_ctl/dataset"; }
# ckt_det_reference UUID DIR: the stand-in's tar archive of checkpoint UUID
# (the bytes it stores or uploaded) unpacked into DIR, as the reference.
ckt_det_reference() {
    local tok
    tok=$(curl -sf -X POST -d '{"username":"determined","password":"","isHashed":false}' \
        "$CKT_DET_URL/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') ||
        ckt_fail "cannot log in to the stand-in"
    mkdir -p "$2"
    curl -sf -H "Authorization: Bearer $tok" -H 'Accept: application/x-tar' "$CKT_DET_URL/checkpoints/$1" |
        tar -x -C "$2" || ckt_fail "cannot unpack the stand-in's archive of $1"
}
# ckt_det_q PYTHON_EXPR: evaluates an expression over the dataset `d`.
ckt_det_q() { ckt_det_dataset | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
