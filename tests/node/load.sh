#!/usr/bin/env bash
# The Direct Line load run (issue 6 item 5; not part of tests/run.sh): builds the service in Release, starts it on a
# free loopback port with a scratch data folder and a throwaway Direct Line secret, runs load.mjs against it
# (500 concurrent WebSocket conversations, 5 messages each by default), stops the service and prints the figures.
# Usage: bash tests/node/load.sh [conversations=500] [messages=5] [extra service arguments, e.g. --Transcript:Durability=Normal]
# LOAD_TRACE=file.nettrace: also take a CPU profile of the service (dotnet-trace collect-linux, 8 s from
# LOAD_TRACE_DELAY=4 s after the client starts: the measured run, after the warm-up); it costs CPU, so the latencies of
# such a run are not the figures to record.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/node/install.sh >/dev/null
dotnet build src/BotService -c Release -nologo -v quiet >/dev/null
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
dotnet src/BotService/bin/Release/net10.0/BotService.dll --urls "http://127.0.0.1:$port" --Data:Path="$work/data" \
  --DirectLine:Secret="$secret" --Logging:LogLevel:Default=Warning "${@:3}" >"$work/service.log" 2>&1 &
service=$!
trap 'kill $service 2>/dev/null; wait $service 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
echo "service: pid $service on 127.0.0.1:$port; load: ${1:-500} conversations x ${2:-5} messages"
cpu() { awk '{print $14 + $15}' "/proc/$service/stat"; }   # the service's user + system CPU time, in clock ticks
before=$(cpu)
status=0
if [ -n "${LOAD_TRACE:-}" ]; then
  (sleep "${LOAD_TRACE_DELAY:-4}"; ~/.dotnet/tools/dotnet-trace collect-linux -p "$service" --profile cpu-sampling \
    --duration 00:00:00:08 -o "$LOAD_TRACE" >"$work/trace.log" 2>&1 || cat "$work/trace.log" >&2) &
  tracer=$!
fi
(cd tests/node && node load.mjs "http://127.0.0.1:$port" "$secret" "${1:-500}" "${2:-5}") || status=$?
after=$(cpu)
[ -n "${tracer:-}" ] && wait "$tracer"
echo "service CPU during the run (warm-up, starts, messages): $(( (after - before) * 1000 / $(getconf CLK_TCK) )) ms; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
