#!/usr/bin/env bash
# bench-peers.sh: `wsgilab bench` against its peers (wrk, ab, hey) on one target, in one
# go, and the ratios the issue sets as targets:
#   - nginx serving a 269-byte file with keep-alive, 50 connections, server and
#     generator pinned to different cores (taskset), each generator twice;
#     per peer: req/s and client CPU per request (user+sys of the generator);
#   - without keep-alive: wsgilab bench vs ab (each run on its own server port, so
#     that the server's TIME_WAIT sockets from one run do not slow the next);
#   - latency agreement at -c 1 (wrk's percentiles, ab -e's CSV, wsgilab's);
#   - peak RSS at -n 100000 vs -n 5000000.
# Numbers drift +-20% between runs on a shared machine: read the ratios of one run.
#
# Usage: scripts/bench-peers.sh [--quick]     (--quick: shorter runs, -n 1000000 for RSS)
# Env:   SERVER_CPU (default 0), CLIENT_CPU (default 1), DURATION (keep-alive runs, s, default 5),
#        ROUNDS (runs of each generator, default 2),
#        WSGILAB_BIN (use this wsgilab binary instead of building ./cmd/wsgilab)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && quick=1
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
duration=${DURATION:-5}
rounds=${ROUNDS:-2}
big_n=5000000
ka_n=300000
noka_n=50000
if [ $quick = 1 ]; then duration=2; big_n=1000000; ka_n=100000; noka_n=20000; fi

if [ "$(nproc)" -lt 2 ]; then
  echo "bench-peers: needs 2 CPUs to pin server and generator apart" >&2
  exit 1
fi
bash "$here/install-stack.sh" --with-peers
for t in nginx wrk ab hey taskset go; do
  command -v "$t" >/dev/null || { echo "bench-peers: $t not found" >&2; exit 1; }
done

work=$(mktemp -d /tmp/bench-peers.XXXXXX)
chmod 755 "$work"   # nginx workers run as nobody
nginx_pid=""
cleanup() {
  if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${WSGILAB_BIN:-}" ]; then
  cp "$WSGILAB_BIN" "$work/wsgilab"   # a prebuilt binary (e.g. while the tree does not build)
else
  echo "bench-peers: building wsgilab" >&2
  (cd "$repo" && go build -o "$work/wsgilab" ./cmd/wsgilab)
fi

# --- the target: nginx, one worker, a 269-byte file -------------------------------
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo $p; return; fi
  done
  echo "bench-peers: no free port" >&2; exit 1
}
ka_port=$(free_port)
lat_port=$(free_port)
noka_ports=()
for _ in $(seq $((2 * rounds))); do noka_ports+=("$(free_port)"); done
mkdir -p "$work/www" "$work/tmp"
head -c 269 /dev/zero | tr '\0' 'x' > "$work/www/index.html"
{
  echo "worker_processes 1; pid $work/nginx.pid; error_log $work/error.log; daemon on;"
  echo "events { worker_connections 8192; }"
  echo "http { access_log off; keepalive_requests 100000000; keepalive_timeout 120s;"
  for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $work/tmp/$d;"; done
  echo "  server { root $work/www; location / { }"
  for p in "$ka_port" "$lat_port" "${noka_ports[@]}"; do echo "    listen 127.0.0.1:$p backlog=8192;"; done
  echo "  } }"
} > "$work/nginx.conf"
taskset -c "$server_cpu" nginx -c "$work/nginx.conf" -p "$work" -g 'user nobody nogroup;' 2>/dev/null ||
  taskset -c "$server_cpu" nginx -c "$work/nginx.conf" -p "$work"
for _ in $(seq 50); do [ -s "$work/nginx.pid" ] && break; sleep 0.1; done
nginx_pid=$(cat "$work/nginx.pid")
url="http://127.0.0.1:$ka_port/index.html"
len=$(curl -s -o /dev/null -w "%{http_code}:%{size_download}" "$url")
[ "$len" = 200:269 ] || { echo "bench-peers: nginx answers $len, want 200:269" >&2; exit 1; }

# --- running a generator: req/s, completed requests, client CPU --------------------
# run NAME OUTFILE cmd...: runs cmd pinned to the client CPU; prints "cpu_seconds".
run() {
  local out=$1; shift
  local TIMEFORMAT='%U %S'
  { time taskset -c "$client_cpu" "$@" >"$out" 2>&1; } 2>"$out.time"
  awk '{printf "%.3f\n", $1 + $2}' "$out.time"
}
# parse NAME OUTFILE: prints "rps requests"
parse() {
  case $1 in
    wsgilab*|ab*) awk '/^Requests per second:/{r=$4} /^Complete requests:/{n=$3} END{print r, n}' "$2" ;;
    wrk*) awk '/Requests\/sec:/{r=$2} / requests in /{n=$1} END{print r, n}' "$2" ;;
    hey*) awk '/Requests\/sec:/{r=$2} /\[2[0-9][0-9]\].*responses/{n+=$2} END{print r, n}' "$2" ;;
  esac
}

# The best of the rounds, for each figure separately: on a shared machine the least
# disturbed round is the closest to what the generator can do.
declare -A best_rps best_us
record() { # name rps cpu requests
  local name=$1 rps=$2 cpu=$3 n=$4 us
  us=$(awk -v c="$cpu" -v n="$n" 'BEGIN{ if (n > 0) printf "%.1f", c * 1e6 / n; else print "nan" }')
  printf '  %-12s %10.0f req/s  %9s requests  cpu %6.2f s  %6s us/request\n' "$name" "$rps" "$n" "$cpu" "$us"
  if [ -z "${best_rps[$name]:-}" ] || awk -v a="$rps" -v b="${best_rps[$name]}" 'BEGIN{exit !(a > b)}'; then
    best_rps[$name]=$rps
  fi
  if [ -z "${best_us[$name]:-}" ] || awk -v a="$us" -v b="${best_us[$name]}" 'BEGIN{exit !(a < b)}'; then
    best_us[$name]=$us
  fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "nan" }'; }

echo
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews req/s more than CPU/request)"
echo "== keep-alive, 50 connections, nginx on CPU $server_cpu, generators on CPU $client_cpu, ${duration}s or $ka_n requests"
for round in $(seq "$rounds"); do
  echo " round $round"
  o=$work/out
  cpu=$(run "$o" "$work/wsgilab" bench -q -k -c 50 --duration "${duration}s" "$url")
  read -r rps n < <(parse wsgilab "$o"); record wsgilab "$rps" "$cpu" "$n"
  cpu=$(run "$o" wrk -t 1 -c 50 -d "${duration}s" "$url")
  read -r rps n < <(parse wrk "$o"); record wrk "$rps" "$cpu" "$n"
  cpu=$(run "$o" ab -q -k -c 50 -n "$ka_n" "$url")
  read -r rps n < <(parse ab "$o"); record "ab-k" "$rps" "$cpu" "$n"
  cpu=$(run "$o" hey -c 50 -z "${duration}s" "$url")
  read -r rps n < <(parse hey "$o"); record hey "$rps" "$cpu" "$n"
done

echo
echo "== no keep-alive, 50 connections, $noka_n requests, a fresh server port per run"
i=0
for round in $(seq "$rounds"); do
  echo " round $round"
  o=$work/out
  u="http://127.0.0.1:${noka_ports[$i]}/index.html"; i=$((i + 1))
  cpu=$(run "$o" "$work/wsgilab" bench -q -c 50 -n "$noka_n" "$u")
  read -r rps n < <(parse wsgilab "$o"); record "wsgilab-noka" "$rps" "$cpu" "$n"
  u="http://127.0.0.1:${noka_ports[$i]}/index.html"; i=$((i + 1))
  cpu=$(run "$o" ab -q -c 50 -n "$noka_n" "$u")
  read -r rps n < <(parse ab "$o"); record "ab-noka" "$rps" "$cpu" "$n"
done

echo
echo "== latency agreement at -c 1, keep-alive (ms)"
lu="http://127.0.0.1:$lat_port/index.html"
taskset -c "$client_cpu" wrk -t 1 -c 1 -d 3s --latency "$lu" >"$work/wrk-lat" 2>&1
taskset -c "$client_cpu" ab -q -k -c 1 -n 50000 -e "$work/ab.csv" "$lu" >/dev/null 2>&1
taskset -c "$client_cpu" "$work/wsgilab" bench -q -k -c 1 -n 50000 -e "$work/w.csv" "$lu" >"$work/w-lat" 2>&1
wrk_p() { awk -v p="$1%" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } printf "%.3f", v }' "$work/wrk-lat"; }
csv_p() { awk -F, -v p="$2" '$1 == p { print $2 }' "$1"; }
own_p() { awk -v p="$1" '$1 == p { print $2 }' "$work/w-lat"; }
printf '  %-5s %10s %10s %12s %12s\n' pct wrk wsgilab "ab -e" "wsgilab -e"
for p in 50 90 99; do
  printf '  p%-4s %10s %10s %12s %12s\n' "$p" "$(wrk_p "$p")" "$(own_p "p$p")" "$(csv_p "$work/ab.csv" "$p")" "$(csv_p "$work/w.csv" "$p")"
done
echo "  (wrk and wsgilab: microsecond resolution; the -e CSVs: ab's rule at 3 decimals)"

echo
echo "== peak RSS of wsgilab bench -k -c 50 (constant memory)"
peak_rss() { # prints peak RSS in kB of the command
  local pid hwm=0 v
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%M' -o "$work/rss" taskset -c "$client_cpu" "$@" >/dev/null 2>&1 || true
    cat "$work/rss"; return
  fi
  # no GNU time: sample the high-water mark until the process exits
  taskset -c "$client_cpu" "$@" >/dev/null 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$v" ] && hwm=$v
    sleep 0.2
  done
  wait "$pid" || true
  echo "$hwm"
}
rss_small=$(peak_rss "$work/wsgilab" bench -q -k -c 50 -n 100000 "$url")
rss_big=$(peak_rss "$work/wsgilab" bench -q -k -c 50 -n "$big_n" "$url")
echo "  -n 100000: ${rss_small} kB    -n $big_n: ${rss_big} kB"

echo
echo "== ratios (best of $rounds rounds each: highest req/s, lowest CPU per request)"
printf '  keep-alive req/s    wsgilab/wrk = %s   wsgilab/ab-k = %s   wsgilab/hey = %s   (targets >= 1.0)\n' \
  "$(ratio "${best_rps[wsgilab]}" "${best_rps[wrk]}")" "$(ratio "${best_rps[wsgilab]}" "${best_rps[ab-k]}")" \
  "$(ratio "${best_rps[wsgilab]}" "${best_rps[hey]}")"
printf '  client CPU us/req   wsgilab %s   wrk %s   ab-k %s   hey %s   (target: wsgilab <= 16)\n' \
  "${best_us[wsgilab]}" "${best_us[wrk]}" "${best_us[ab-k]}" "${best_us[hey]}"
printf '  CPU efficiency      wrk/wsgilab = %s   ab-k/wsgilab = %s   (peer CPU per request over ours; >= 1.0: as lean)\n' \
  "$(ratio "${best_us[wrk]}" "${best_us[wsgilab]}")" "$(ratio "${best_us[ab-k]}" "${best_us[wsgilab]}")"
printf '  no keep-alive       wsgilab/ab req/s = %s   (target >= 1.0); CPU us/req wsgilab %s, ab %s (ab/wsgilab = %s)\n' \
  "$(ratio "${best_rps[wsgilab-noka]}" "${best_rps[ab-noka]}")" "${best_us[wsgilab-noka]}" "${best_us[ab-noka]}" \
  "$(ratio "${best_us[ab-noka]}" "${best_us[wsgilab-noka]}")"
printf '  peak RSS            -n %s / -n 100000 = %s   (target <= 1.10)\n' "$big_n" "$(ratio "$rss_big" "$rss_small")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
