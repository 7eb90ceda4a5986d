#!/usr/bin/env bash
# Compare WSGI servers for `make run`: granian vs gunicorn, 2 workers each,
# serving wlm.wsgi:application on 127.0.0.1 only. Results: docs/server.md.
#
# Needs wrk (apt-get install -y wrk) and gunicorn in the venv
# (.venv/bin/pip install gunicorn==27.0.1 -- it is not in requirements.lock),
# and a migrated, seeded throwaway database:
#   export DATABASE_URL=sqlite:////tmp/wlm-bench.sqlite3 SECURE_SSL=0
#   .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_demo
#   .venv/bin/python manage.py collectstatic --noinput
# Usage: bench/servers.sh [seconds per wrk run, default 10]   (~5 min at 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-sqlite:////tmp/wlm-bench.sqlite3}" SECURE_SSL=0
DUR="${1:-10}" RUNS=3 CONNS=32 APP=wlm.wsgi:application BIN=.venv/bin
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; }
[ -x $BIN/gunicorn ] || { echo "gunicorn missing: $BIN/pip install gunicorn==27.0.1" >&2; exit 1; }

# name|port|command  (ports 8100-8199, loopback only)
CONFIGS=(
  "granian-bt1|8101|$BIN/granian --interface wsgi --host 127.0.0.1 --port 8101 --workers 2 --blocking-threads 1 --no-ws $APP"
  "granian-bt2|8102|$BIN/granian --interface wsgi --host 127.0.0.1 --port 8102 --workers 2 --blocking-threads 2 --no-ws $APP"
  "gunicorn-sync|8103|$BIN/gunicorn -w 2 -b 127.0.0.1:8103 $APP"
  "gunicorn-gthread4|8104|$BIN/gunicorn -w 2 -k gthread --threads 4 -b 127.0.0.1:8104 $APP"
)
PATHS=(/api/v1/locations/ /api/v1/modules/)

TOKEN=$($BIN/python manage.py create_token costa --name "bench/servers.sh" | tail -1)
AUTH="Authorization: Token $TOKEN"
OUT=$(mktemp -d /tmp/wlm-bench.XXXX) PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$OUT"' EXIT

status() { curl -s -m 5 -o /dev/null -w '%{http_code}' -H "$AUTH" "http://127.0.0.1:$1${PATHS[0]}" || true; }
# CPU time (1/100 s) used so far by a server: master + workers.
ticks() { local s=0 p; for p in $1 $(pgrep -P "$1"); do s=$((s + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $s; }

for c in "${CONFIGS[@]}"; do   # start all servers; idle ones cost no CPU
  IFS='|' read -r name port cmd <<<"$c"
  $cmd >"$OUT/$name.log" 2>&1 & PIDS+=($!)
done
for c in "${CONFIGS[@]}"; do   # wait (30 s max) until each answers 200, then warm up
  IFS='|' read -r name port cmd <<<"$c"
  for _ in $(seq 60); do [ "$(status "$port")" = 200 ] && break; sleep 0.5; done
  [ "$(status "$port")" = 200 ] || { echo "$name did not answer:" >&2; cat "$OUT/$name.log" >&2; exit 1; }
  for p in "${PATHS[@]}"; do wrk -t2 -c$CONNS -d2s -H "$AUTH" "http://127.0.0.1:$port$p" >/dev/null; done
done

# Interleaved rounds: each round runs every configuration once, so drift hits all alike.
for r in $(seq $RUNS); do
  for p in "${PATHS[@]}"; do for i in "${!CONFIGS[@]}"; do
    IFS='|' read -r name port cmd <<<"${CONFIGS[$i]}"
    before=$(ticks "${PIDS[$i]}")
    wrk -t2 -c$CONNS -d"${DUR}s" --timeout 10s --latency -H "$AUTH" "http://127.0.0.1:$port$p" >"$OUT/wrk"
    cpu=$(( $(ticks "${PIDS[$i]}") - before ))
    awk -v n="$name" -v p="$p" -v cpu="$cpu" '
      function ms(v) { return v ~ /us$/ ? v / 1000 : v ~ /ms$/ ? v + 0 : v * 1000 }
      / 99%/ { p99 = ms($2) } /requests in/ { reqs = $1 } /Requests\/sec/ { rps = $2 }
      /Non-2xx|Socket errors/ { err = 1 }
      END { printf "%s %s %.1f %.1f %.2f %s\n", n, p, rps, p99, cpu * 10 / reqs, err ? "ERR" : "ok" }' \
      "$OUT/wrk" | tee -a "$OUT/runs" | sed "s/^/round $r: /" >&2
  done; done
done

# Medians of the 3 runs; ratio = median req/s / best median req/s for that endpoint.
printf "%-18s %-19s %7s %7s %7s %6s\n" server endpoint req/s p99_ms cpu_ms ratio
awk 'function med(s,  a, n, i, j, t) { n = split(s, a, " ")
       for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
       return a[int((n + 1) / 2)] }
     { k = $1 " " $2; rps[k] = rps[k] " " $3; p99[k] = p99[k] " " $4; cpu[k] = cpu[k] " " $5
       if ($6 != "ok") bad[k] = " errors!" }
     END { for (k in rps) { m[k] = med(rps[k]); split(k, kk, " "); if (m[k] > best[kk[2]]) best[kk[2]] = m[k] }
           for (k in rps) { split(k, kk, " "); printf "%-18s %-19s %7.1f %7.1f %7.2f %6.2f%s\n",
             kk[1], kk[2], m[k], med(p99[k]), med(cpu[k]), m[k] / best[kk[2]], bad[k] } }' "$OUT/runs" |
  sort -k2b,2 -k6,6nr
echo "(cpu_ms = server CPU time per request, master + workers; less sensitive to other load than req/s)"
