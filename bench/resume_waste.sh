#!/usr/bin/env bash
# Resume waste: a segmented 1 GiB download from a rate-limited nginx (8 MB/s
# per connection), killed with kill -9 at KILLS random moments and restarted
# each time; at the end the file must equal its source, and the bytes nginx
# sent ($body_bytes_sent, summed from its access log) are compared with the
# file's size. Prints the re-fetched share of the file.
#
#   bench/resume_waste.sh [KILLS] [SIZE_MIB]      (defaults 3 and 1024)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CKPT_SRC=$here
: "${CKPTD:=$here/build/engine/ckptd}"
: "${CKPT:=$here/build/cli/ckpt}"
export CKPTD CKPT
. "$here/tests/lib/common.sh"
kills=${1:-3}
mib=${2:-1024}
ckt_tmpdir
ckt_gen_file "$CKT_TMP/www/big.bin" $((mib * 1048576))
ckt_nginx_start "$CKT_TMP/www" "limit_rate 8m;"
ckt_daemon_start
id=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_BASE_URL/big.bin")
for k in $(seq 1 "$kills"); do
    sleep "$(python3 -c 'import random; print(round(random.uniform(1.0, 3.0), 2))')"
    ckt_daemon_kill9
    ckt_daemon_start
done
timeout 600 "$CKPT" --socket "$CKT_SOCK" watch "$id" > /dev/null || ckt_fail "the job did not finish"
cmp -s "$CKT_TMP/www/big.bin" "$CKT_TMP/out/big.bin" || ckt_fail "the file differs from its source"
ckt_daemon_stop
sent=$(awk '{ s += $10 } END { printf "%d", s }' "$CKT_NGINX_PREFIX/logs/access.log")
size=$((mib * 1048576))
python3 - "$sent" "$size" "$kills" <<'PY'
import sys
sent, size, kills = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
waste = sent - size
print("resume_waste: %d kills, file %d bytes, nginx sent %d bytes: %.2f%% fetched again (%.1f MiB)"
      % (kills, size, sent, 100.0 * waste / size, waste / 1048576))
PY
