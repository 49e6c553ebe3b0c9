# Starts the Determined stand-in for a test: ckt_detmaster_start [EXTRA ARGS]
# sets CKT_DET_URL and CKT_DET_DATA; ckt_det_dataset prints /_ctl/dataset.
ckt_detmaster_start() {
    CKT_DET_DATA=${CKT_DET_DATA:-$CKT_TMP/detdata}
    rm -f "$CKT_TMP/det.port"
    python3 "$CKPT_SRC/tests/detmaster/detmaster.py" --port-file "$CKT_TMP/det.port" \
        --data "$CKT_DET_DATA" --quiet "$@" >>"$CKT_TMP/detmaster.log" 2>&1 &
    CKT_DET_PID=$!
    CKT_PIDS+=("$CKT_DET_PID")
    local i
    for i in $(seq 1 100); do
        [ -s "$CKT_TMP/det.port" ] && break
        kill -0 "$CKT_DET_PID" 2>/dev/null || ckt_fail "the Determined stand-in exited"
        sleep 0.1
    done
    [ -s "$CKT_TMP/det.port" ] || ckt_fail "the Determined stand-in did not start"
    CKT_DET_URL=http://127.0.0.1:$(cat "$CKT_TMP/det.port")
}

ckt_det_dataset() { curl -sf "$CKT_DET_URL/_ctl/dataset"; }
# ckt_det_q PYTHON_EXPR: evaluates an expression over the dataset `d`.
ckt_det_q() { ckt_det_dataset | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
