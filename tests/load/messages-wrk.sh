#!/usr/bin/env bash
# Load benchmark of POST /api/messages (issue 5, item 6). Not part of tests/run.sh: it takes about a minute and a
# half and needs the machine to itself to mean much. Usage, from anywhere:
#
#   bash tests/load/messages-wrk.sh
#
# What it does, all on 127.0.0.1:
#  1. installs wrk (Debian package) if it is missing;
#  2. publishes the service (src/BotService) and the fixed-body baseline (tests/BotService.LoadBaseline) in Release
#     to a temp folder, and starts the service there in anonymous mode (no MicrosoftAppId) with a throwaway
#     --Data:Path, waiting for /healthz to answer 200;
#  3. posts the message Activity in message-activity.json once and keeps the reply; the baseline then serves exactly
#     those bytes, so both endpoints send bodies of the same size;
#  4. warms both up, then runs wrk against baseline and service alternately, LOAD_ROUNDS times, each for
#     LOAD_DURATION seconds with fixed threads and connections; messages.lua checks every reply (status 200, body
#     contains LOAD_EXPECT);
#  5. prints req/s, p50/p99 latency and bad replies per run, the medians and the service/baseline ratio; exits 1 if
#     any reply was bad (or a socket error happened), 0 otherwise. It does not judge the ratio: it reports it.
#
# Unless LOAD_CEILINGS=0, each round also runs two ceilings served by the baseline process (CeilingEndpoints.cs):
# "json" reads the Activity and writes an addressed reply with the service's serializer and nothing else; "stored"
# does the same and waits for the message and the reply to be committed to SQLite (WAL, synchronous=FULL, one writer
# thread, group commit), as a turn with its transcript on the path must. No bot, no safety, no middleware: what the
# service could reach at best while keeping its promise that a 200 means the turn is stored.
#
# Settings (environment): LOAD_DURATION (s, default 10), LOAD_WARMUP (s, default 3), LOAD_ROUNDS (default 3),
# LOAD_THREADS (default 2), LOAD_CONNECTIONS (default 32), LOAD_EXPECT (default "\$275 per infusion").
# The service gets the build's botservice.env (decision 0030; a variable already set here wins) unless LOAD_RUNTIME_ENV=none.
# The processes it starts run from the temp folder and are stopped by their PIDs on exit; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

duration=${LOAD_DURATION:-10}
warmup=${LOAD_WARMUP:-3}
rounds=${LOAD_ROUNDS:-3}
threads=${LOAD_THREADS:-2}
connections=${LOAD_CONNECTIONS:-32}
expect=${LOAD_EXPECT:-'$275 per infusion'}
activity="$repo/tests/load/message-activity.json"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk (Debian package)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "messages-wrk.sh: wrk is missing and this is not root; install it with: apt-get install -y wrk" >&2
    exit 2
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
for tool in dotnet curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "messages-wrk.sh: $tool is not on PATH" >&2; exit 2; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until URL answers 200, while the process PID is alive; 60 s at most.
wait_ready() {
  local url=$1 pid=$2 log=$3
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "messages-wrk.sh: the process behind $url exited; its log:" >&2
      cat "$log" >&2
      exit 2
    fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ]; then
      return 0
    fi
    sleep 0.2
  done
  echo "messages-wrk.sh: $url did not answer 200 within 60 s" >&2
  exit 2
}

echo "== publishing the service and the baseline (Release)"
# Published to the temp folder rather than run from bin/: the processes are ours alone, by path and by PID.
dotnet publish src/BotService -c Release -o "$work/service" -nologo -v quiet -warnaserror >"$work/publish.log" 2>&1 \
  || { cat "$work/publish.log" >&2; exit 2; }
dotnet publish tests/BotService.LoadBaseline -c Release -o "$work/baseline" -nologo -v quiet -warnaserror >"$work/publish.log" 2>&1 \
  || { cat "$work/publish.log" >&2; exit 2; }

service_port=$(free_port)
service="http://127.0.0.1:$service_port"
mkdir -p "$work/data"
# The repo root is the working folder so the service finds appsettings.json and knowledge/ as it does under
# `dotnet run`; anonymous mode: no app id from configuration or environment. Every wrk request is the same activity
# of one conversation, so the per-conversation rate limit is switched off: this run measures throughput.
# The deployment's runtime environment (botservice.env, decision 0030) for the service, as soak.sh gives it;
# LOAD_RUNTIME_ENV=none leaves it out.
. tests/load/runtime-env.sh
runtime_env=()
if [ "${LOAD_RUNTIME_ENV:-file}" != none ]; then
  read_runtime_env "$work/service/botservice.env"
fi
(cd "$repo" && exec env -u MicrosoftAppId -u MicrosoftAppPassword -u MicrosoftAppTenantId "${runtime_env[@]}" \
  dotnet "$work/service/BotService.dll" --urls "$service" --Data:Path="$work/data" --RateLimits:Enabled=false) >"$work/service.log" 2>&1 &
pids+=($!)
service_pid=$!
wait_ready "$service/healthz" "$service_pid" "$work/service.log"

status=$(curl -sS -o "$work/reply.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary "@$activity" "$service/api/messages")
if [ "$status" != 200 ] || ! grep -qF -- "$expect" "$work/reply.json"; then
  echo "messages-wrk.sh: the service's reply (status $status) does not contain \"$expect\":" >&2
  cat "$work/reply.json" >&2
  exit 1
fi
reply_bytes=$(stat -c %s "$work/reply.json")

baseline_port=$(free_port)
baseline="http://127.0.0.1:$baseline_port"
dotnet "$work/baseline/BotService.LoadBaseline.dll" --urls "$baseline" --Body "$work/reply.json" --Database "$work/ceiling.db" \
  >"$work/baseline.log" 2>&1 &
pids+=($!)
baseline_pid=$!
wait_ready "$baseline/healthz" "$baseline_pid" "$work/baseline.log"
curl -sS -o "$work/baseline-reply.json" -H 'Content-Type: application/json' --data-binary "@$activity" "$baseline/api/messages"
cmp -s "$work/reply.json" "$work/baseline-reply.json" || { echo "messages-wrk.sh: the baseline does not serve the captured reply" >&2; exit 2; }

run_wrk() { # name url seconds
  LOAD_BODY="$activity" LOAD_EXPECT="$expect" wrk -t"$threads" -c"$connections" -d"${3}s" --timeout 5s \
    -s "$repo/tests/load/messages.lua" "$2" >"$work/wrk.out" 2>&1 || true
  local line
  line=$(grep '^RESULT ' "$work/wrk.out" || true)
  if [ -z "$line" ]; then
    echo "messages-wrk.sh: wrk printed no result for $1:" >&2
    cat "$work/wrk.out" >&2
    exit 2
  fi
  echo "$1 ${line#RESULT }"
}

echo "== reply: $reply_bytes bytes; wrk -t$threads -c$connections, ${duration}s per run, $rounds rounds, after ${warmup}s warm-up each; service environment: ${runtime_env[*]:-none}"
targets=(baseline service)
if [ "${LOAD_CEILINGS:-1}" != 0 ]; then
  targets=(baseline json stored service)
fi
url_of() {
  case $1 in
    baseline) echo "$baseline/api/messages" ;;
    json) echo "$baseline/api/messages/json" ;;
    stored) echo "$baseline/api/messages/stored" ;;
    service) echo "$service/api/messages" ;;
  esac
}
for target in "${targets[@]}"; do
  run_wrk "$target-warmup" "$(url_of "$target")" "$warmup" >/dev/null
done
: >"$work/results.txt"
for round in $(seq "$rounds"); do
  for target in "${targets[@]}"; do
    line=$(run_wrk "$target" "$(url_of "$target")" "$duration")
    echo "round $round $line"
    echo "$round $line" >>"$work/results.txt"
  done
done

echo "== summary (medians over $rounds rounds)"
python3 - "$work/results.txt" <<'PY'
import statistics, sys
runs = []
for line in open(sys.argv[1]):
    parts = line.split()
    row = {"round": int(parts[0]), "target": parts[1]}
    row.update({k: float(v) for k, v in (p.split("=", 1) for p in parts[2:])})
    runs.append(row)
bad = 0
for target in ("baseline", "json", "stored", "service"):
    rows = [r for r in runs if r["target"] == target]
    if not rows:
        continue
    med = lambda k: statistics.median(r[k] for r in rows)
    bad_here = sum(r["bad_status"] + r["bad_body"] + r["socket_errors"] + (r["requests"] - r["checked"]) for r in rows)
    bad += bad_here
    print(f"{target:9} {med('rps'):10.0f} req/s   p50 {med('p50_ms'):.3f} ms   p99 {med('p99_ms'):.3f} ms   "
          f"replies checked {int(sum(r['checked'] for r in rows))}, bad {int(bad_here)}")
for target in ("json", "stored", "service"):
    ratios = []
    for rnd in sorted({r["round"] for r in runs}):
        b = next(r for r in runs if r["round"] == rnd and r["target"] == "baseline")
        s = next((r for r in runs if r["round"] == rnd and r["target"] == target), None)
        if s is not None:
            ratios.append(s["rps"] / b["rps"])
    if ratios:
        print(f"ratio {target}/baseline per round: " + ", ".join(f"{x:.3f}" for x in ratios) +
              f"; median {statistics.median(ratios):.3f}")
print(f"bad replies: {int(bad)}")
sys.exit(1 if bad else 0)
PY
