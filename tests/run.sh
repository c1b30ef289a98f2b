#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: restores what the tests need, builds, runs every test project,
# prints the figures the tests report (answer quality, safety recall), and ends with one line "N passed, N failed".
# Usage: bash tests/run.sh [extra dotnet test arguments, e.g. --filter FullyQualifiedName~Ask]
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
trap 'rm -rf "$reports" "$log"' EXIT

echo "== npm packages for the Node tests (tests/node: botframework-directlinejs and friends)"
bash tests/node/install.sh

echo "== restore and build"
dotnet build BotService.sln -c Debug -warnaserror -nologo -v quiet

echo "== tests"
status=0
for project in tests/BotService.UnitTests tests/BotService.IntegrationTests; do
  dotnet test "$project" --no-build -nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee -a "$log" || status=1
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
