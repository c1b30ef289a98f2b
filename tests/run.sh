#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: restores what the tests need, builds, runs the unit tests, runs the
# integration tests twice (on SQLite, then on a throwaway PostgreSQL server this script starts and stops:
# tests/postgres.sh), prints the figures the tests report (answer quality, safety recall), and ends with one line
# "N passed, N failed".
# Usage: bash tests/run.sh [extra dotnet test arguments, e.g. --filter FullyQualifiedName~Ask]
# BOTSERVICE_TEST_PROVIDERS="sqlite" (or "postgresql") runs the integration tests on one provider only.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dotnet >/dev/null 2>&1; then
  echo "tests/run.sh: the .NET SDK (dotnet) is not on PATH; install .NET 10 first" >&2
  exit 2
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
reports=$(mktemp -d)
export BOTSERVICE_REPORTS="$reports"
log=$(mktemp)
pgstate=$(mktemp -u)
trap 'bash tests/postgres.sh stop "$pgstate" || true; rm -rf "$reports" "$log"' EXIT
providers=${BOTSERVICE_TEST_PROVIDERS:-sqlite postgresql}

echo "== npm packages for the Node tests (tests/node: botframework-directlinejs and friends)"
bash tests/node/install.sh

echo "== restore and build"
dotnet build BotService.sln -c Debug -warnaserror -nologo -v quiet

echo "== tests"
status=0
dotnet test tests/BotService.UnitTests --no-build -nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee -a "$log" || status=1

# The integration suite once per storage provider. Tests about the SQLite file itself (locks, read-only, deleted) run
# only on SQLite, tests of PostgreSQL server faults only on PostgreSQL. The PostgreSQL pass leaves out the classes
# marked [Trait("Storage", "none")] (knowledge, authentication, wire format, browser and directlinejs clients: nothing
# in them depends on the provider), unless a --filter was given; every other test runs on both.
pgfilter=(--filter "Storage!=none")
for a in "$@"; do [ "$a" = "--filter" ] && pgfilter=(); done
for provider in $providers; do
  started=$(date +%s)
  case "$provider" in
    sqlite)
      echo "== integration tests on SQLite"
      BOTSERVICE_TEST_POSTGRES="" dotnet test tests/BotService.IntegrationTests --no-build -nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee -a "$log" || status=1 ;;
    postgresql)
      echo "== integration tests on PostgreSQL (a throwaway server: tests/postgres.sh)"
      if ! pg=$(bash tests/postgres.sh start "$pgstate"); then
        echo "tests/run.sh: could not start PostgreSQL; the PostgreSQL pass did not run" >&2
        status=1
        continue
      fi
      BOTSERVICE_TEST_POSTGRES="$pg" dotnet test tests/BotService.IntegrationTests --no-build -nologo --logger "console;verbosity=normal" \
        ${pgfilter[@]+"${pgfilter[@]}"} "$@" 2>&1 | tee -a "$log" || status=1
      bash tests/postgres.sh stop "$pgstate" ;;
    *) echo "tests/run.sh: unknown provider $provider (sqlite, postgresql)" >&2; status=1 ;;
  esac
  echo "== integration tests on $provider took $(( $(date +%s) - started )) s"
done

echo
echo "== no message text in the service's logs (every level, the whole run)"
if [ -f "$reports/service-logs.txt" ]; then
  python3 tests/privacy-grep.py "$reports/service-logs.txt" \
    tests/BotService.UnitTests/Safety/safety-corpus.jsonl tests/BotService.UnitTests/Knowledge/questions.jsonl || status=1
else
  echo "privacy: the integration tests wrote no service log" >&2
  status=1
fi

echo
echo "== figures reported by the tests"
for f in "$reports"/*.txt; do
  [ -e "$f" ] || continue
  [ "$(basename "$f")" = service-logs.txt ] && continue
  echo "-- $(basename "$f" .txt)"
  cat "$f"
done

# dotnet test closes each project with "Total tests: N" then "Passed: N", "Failed: N", "Skipped: N" lines.
read -r passed failed skipped < <(awk '
  /^ +Passed: +[0-9]+ *$/  { p += $2 }
  /^ +Failed: +[0-9]+ *$/  { f += $2 }
  /^ +Skipped: +[0-9]+ *$/ { s += $2 }
  END { print p+0, f+0, s+0 }' "$log")
echo
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$passed" -eq 0 ] || [ "$failed" -ne 0 ]; then status=1; fi
exit $status
