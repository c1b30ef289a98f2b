#!/usr/bin/env bash
# Soak and fault run (issue 9, part 5; not part of tests/run.sh): mixed Direct Line and /api/messages traffic against
# the Release service for a bounded time, optionally with a fault, then a count of what the clients were told was
# accepted against what the database stored. Everything on 127.0.0.1. Usage, from anywhere:
#
#   bash tests/load/soak.sh [sqlite|postgresql] [none|kill|pg-restart] [seconds=600] [--flag=value ...]
#
#   bash tests/load/soak.sh sqlite none 600          # the 10-minute soak on SQLite
#   bash tests/load/soak.sh postgresql none 600      # the same on a throwaway PostgreSQL server
#   bash tests/load/soak.sh sqlite kill 120          # kill -9 of the instance mid-load, restarted on its Data:Path
#   bash tests/load/soak.sh postgresql pg-restart 120  # PostgreSQL restarted (pg_ctl, fast shutdown) mid-load
#   bash tests/load/soak.sh sqlite none 30           # a quick check
#
# Further flags go to soak.mjs: --ports=P1,P2 (instances on these ports, 0 = any free port; several need postgresql:
# conversations are spread over them, each staying on its instance), --faults=N (evenly spread; default 1),
# --down=S (kill: seconds the instance stays down, default 3; pg-restart: seconds the server stays stopped, default
# 3), --dl-visitors=24, --api-callers=6, --messages=5 (per conversation), --emergency-every=20, --think-min=500,
# --think-max=1500 (ms), --reply-timeout=15000 (ms), --service-args="--Transcript:Durability=Normal ...",
# --migrate=start (no `BotService.dll migrate` step before the instances start: each migrates its database itself).
#
# What it does:
#  1. publishes src/BotService in Release to a temp folder (so no `pkill -f net10.0/BotService` elsewhere on a shared
#     machine matches it) and installs tests/node's packages if needed (the `ws` client);
#  2. for postgresql, starts a throwaway server with tests/postgres.sh (stopped and deleted at the end); the service
#     gets a database of its own on it;
#  3. soak.mjs starts the instance(s) (anonymous mode, a fresh Data:Path each, a generated Direct Line secret and
#     signing key shared by all), warms up, drives the load, injects the fault, waits for the escalation outbox to
#     drain, reads `messages` and `escalations` (sqlite3 / psql) while the service still runs, and prints: sent,
#     acknowledged, stored, lost (acknowledged but not stored), escalations sent/stored/lost, errors by kind (client
#     side, and Error/Critical lines in each instance's log by event id), RSS of each instance after warm-up and at the
#     end (/proc), CPU, p50/p99 latency. Exit 0 when nothing acknowledged was lost (and, without a fault, no error at
#     all); 1 otherwise; 2 if the run itself could not be done.
# Logs of the instances are kept when the run fails (the path is printed); SOAK_KEEP=1 keeps them always.
# SOAK_SERVICE=DIR runs an already published build from DIR instead of publishing (back-to-back runs of one commit).
# The instances get the build's botservice.env (the deployment's runtime settings; SOAK_RUNTIME_ENV=none leaves it out).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
provider=${1:-sqlite}
fault=${2:-none}
seconds=${3:-600}
shift $(( $# < 3 ? $# : 3 ))

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
for tool in dotnet node python3 sqlite3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "soak.sh: $tool is not on PATH" >&2; exit 2; }
done
case "$provider" in sqlite|postgresql) ;; *) echo "soak.sh: storage must be sqlite or postgresql" >&2; exit 2 ;; esac
case "$fault" in none|kill|pg-restart) ;; *) echo "soak.sh: fault must be none, kill or pg-restart" >&2; exit 2 ;; esac
if [ "$fault" = pg-restart ] && [ "$provider" != postgresql ]; then
  echo "soak.sh: pg-restart needs postgresql" >&2; exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/botservice-soak.XXXXXX")
pg_state="$work/pg.state"
status=0
cleanup() {
  [ -f "$pg_state" ] && bash "$repo/tests/postgres.sh" stop "$pg_state" || true
  if [ "$status" -eq 0 ] && [ "${SOAK_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    echo "soak.sh: logs and data kept in $work"
  fi
}
trap cleanup EXIT
trap 'status=130; exit 130' INT TERM

bash tests/node/install.sh >/dev/null
service_dir=${SOAK_SERVICE:-}
if [ -z "$service_dir" ]; then
  service_dir="$work/service"
  echo "== publishing src/BotService (Release) to $service_dir"
  dotnet publish src/BotService -c Release -o "$service_dir" -nologo -v quiet >"$work/publish.log" 2>&1 \
    || { cat "$work/publish.log" >&2; status=2; exit 2; }
fi

# The deployment's runtime environment (decision 0030), so the soak measures the service as it is deployed:
# the variables in the build's botservice.env, unless already set here. SOAK_RUNTIME_ENV=none runs without them.
. tests/load/runtime-env.sh
runtime_env=()
if [ "${SOAK_RUNTIME_ENV:-file}" != none ]; then
  read_runtime_env "$service_dir/botservice.env"
fi
for setting in "${runtime_env[@]}"; do
  export "$setting"
done

pg_args=()
if [ "$provider" = postgresql ]; then
  pg=$(bash tests/postgres.sh start "$pg_state")
  pg_args=(--pg-connection="$pg" --pg-state="$pg_state")
  command -v psql >/dev/null 2>&1 || { echo "soak.sh: psql is not on PATH" >&2; status=2; exit 2; }
fi

secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
key=$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')
if [ -n "${SOAK_SERVICE:-}" ]; then
  built="the build in $SOAK_SERVICE"
else
  built="commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + local changes')"
fi
echo "== $(date -u +%FT%TZ) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $built"
echo "== runtime environment: ${runtime_env[*]:-none (SOAK_RUNTIME_ENV=none, or the build has no botservice.env)}"
node tests/load/soak.mjs --dll="$service_dir/BotService.dll" --work="$work" --provider="$provider" --fault="$fault" \
  --duration="$seconds" --secret="$secret" --signing-key="$key" "${pg_args[@]}" "$@" || status=$?
exit $status
