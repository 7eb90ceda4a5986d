#!/usr/bin/env bash
# Compare WSGI servers for `make run`: granian vs gunicorn, 2 workers each,
# serving wlm.wsgi:application on 127.0.0.1 only. Results: docs/server.md.
#
# Needs wrk (apt-get install -y wrk) and gunicorn in the venv
# (.venv/bin/pip install gunicorn==27.0.1 -- not in requirements.lock), and a
# migrated, seeded throwaway database:
#   export DATABASE_URL=sqlite:////tmp/wlm-bench.sqlite3 SECURE_SSL=0
#   .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_demo
#   .venv/bin/python manage.py collectstatic --noinput
# Usage: bench/servers.sh [seconds per run, default 10]   (about 5 min at 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-sqlite:////tmp/wlm-bench.sqlite3}" SECURE_SSL=0
DUR="${1:-10}" RUNS=3 CONNS=32 APP=wlm.wsgi:application BIN=.venv/bin
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; }
[ -x $BIN/gunicorn ] || { echo "gunicorn missing: $BIN/pip install gunicorn==27.0.1" >&2; exit 1; }

# name|port|command   (all listen on 127.0.0.1, ports 8100-8199)
CONFIGS=(
  "granian-bt1|8101|$BIN/granian --interface wsgi --host 127.0.0.1 --port 8101 --workers 2 --blocking-threads 1 --no-ws --no-access-log $APP"
  "granian-bt2|8102|$BIN/granian --interface wsgi --host 127.0.0.1 --port 8102 --workers 2 --blocking-threads 2 --no-ws --no-access-log $APP"
  "gunicorn-sync|8103|$BIN/gunicorn -w 2 -b 127.0.0.1:8103 $APP"
  "gunicorn-gthread4|8104|$BIN/gunicorn -w 2 -k gthread --threads 4 -b 127.0.0.1:8104 $APP"
)
PATHS=(/api/v1/locations/ /api/v1/modules/)

TOKEN=$($BIN/python manage.py shell -v0 -c "
from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token
print(Token.objects.get_or_create(user=get_user_model().objects.get(username='costa'))[0].key)" | tail -1)
AUTH="Authorization: Token $TOKEN"
OUT=$(mktemp -d /tmp/wlm-bench.XXXX) PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$OUT"' EXIT

for c in "${CONFIGS[@]}"; do   # start all servers (idle ones cost no CPU)
  IFS='|' read -r name port cmd <<<"$c"
  $cmd >"$OUT/$name.log" 2>&1 & PIDS+=($!)
done
for c in "${CONFIGS[@]}"; do   # wait until each answers 200 (30 s max), then warm up
  IFS='|' read -r name port cmd <<<"$c"
  for _ in $(seq 60); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "127.0.0.1:$port${PATHS[0]}")" = 200 ] && break
    sleep 0.5
  done || true
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "127.0.0.1:$port${PATHS[0]}")" = 200 ] \
    || { echo "$name did not answer; log:" >&2; cat "$OUT/$name.log" >&2; exit 1; }
  for p in "${PATHS[@]}"; do wrk -t2 -c$CONNS -d2s -H "$AUTH" "http://127.0.0.1:$port$p" >/dev/null; done
done

echo "load before: $(cut -d" " -f1-3 /proc/loadavg)" >&2
# Interleaved: each round runs every config once, so drift hits all of them alike.
for r in $(seq $RUNS); do
  for p in "${PATHS[@]}"; do for c in "${CONFIGS[@]}"; do
    IFS='|' read -r name port cmd <<<"$c"
    wrk -t2 -c$CONNS -d"${DUR}s" --timeout 10s --latency -H "$AUTH" "http://127.0.0.1:$port$p" |
      awk -v n="$name" -v p="$p" '
        function ms(v) { return v ~ /us$/ ? v/1000 : v ~ /ms$/ ? v+0 : v*1000 }
        / 99%/ { p99 = ms($2) } /Requests\/sec/ { rps = $2 }
        /Non-2xx|Socket errors/ { err = err $0 }
        END { printf "%s %s %.1f %.1f %s\n", n, p, rps, p99, (err ? "ERR" : "ok") }' >>"$OUT/runs"
    echo "round $r $(tail -1 "$OUT/runs")" >&2
  done; done
done

echo "load after: $(cut -d" " -f1-3 /proc/loadavg)" >&2
# Median of the 3 runs = sum - min - max (req/s and p99 each), ratio to the best req/s per endpoint.
printf "%-18s %-20s %8s %8s %6s\n" server endpoint req/s p99_ms ratio
awk '{ k = $1 " " $2; n[k]++; s[k] += $3; lo[k] = (n[k] == 1 || $3 < lo[k]) ? $3 : lo[k]
       hi[k] = (n[k] == 1 || $3 > hi[k]) ? $3 : hi[k]; q[k] += $4
       qlo[k] = (n[k] == 1 || $4 < qlo[k]) ? $4 : qlo[k]; qhi[k] = (n[k] == 1 || $4 > qhi[k]) ? $4 : qhi[k]
       if ($5 != "ok") bad[k] = " (errors)" }
     END { for (k in n) { med[k] = s[k] - lo[k] - hi[k]; split(k, kk, " ")
             if (med[k] > best[kk[2]]) best[kk[2]] = med[k] }
           for (k in n) { split(k, kk, " "); printf "%-18s %-20s %8.1f %8.1f %6.2f%s\n",
             kk[1], kk[2], med[k], q[k] - qlo[k] - qhi[k], med[k] / best[kk[2]], bad[k] } }' "$OUT/runs" |
  sort -k2b,2 -k5,5nr
