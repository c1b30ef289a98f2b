#!/usr/bin/env bash
# Adds a migration to the service's one migration history, for both providers, under the same id
# (docs/decisions/0015-postgresql-migrations-per-provider.md):
#
#   bash src/add-migration.sh NAME                 # after changing the model (BotDbContext, Records)
#   bash src/add-migration.sh --postgresql-for ID  # the newest migration, made for SQLite only by
#                                                  # `dotnet ef` alone (e.g. 20261123210753_TeamsAlerts): its PostgreSQL half
#
# dotnet ef writes each half from the model (column types differ: TEXT/INTEGER vs varchar/timestamptz/uuid). Read
# both before committing: raw SQL (migrationBuilder.Sql: triggers, functions) and hand-set defaults are per provider
# and must be written into each half. MigrationTests (tests/BotService.IntegrationTests/Storage) checks that the two
# halves list the same ids and that neither leaves a model change unmigrated.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet tool restore >/dev/null   # dotnet-ef, pinned in dotnet-tools.json

add() { # provider name id
  local project=src/BotService.Migrations.$1 before after made stamped
  before=$(ls "$project/Migrations")
  dotnet tool run dotnet-ef migrations add "$2" --project "$project" --output-dir Migrations
  after=$(ls "$project/Migrations")
  made=$(comm -13 <(echo "$before") <(echo "$after") | grep -v Designer | grep "_$2.cs$")
  stamped=${made%.cs}
  if [ "$stamped" != "$3" ]; then # dotnet ef stamps each half with the second it ran: give both the same id
    mv "$project/Migrations/$stamped.cs" "$project/Migrations/$3.cs"
    mv "$project/Migrations/$stamped.Designer.cs" "$project/Migrations/$3.Designer.cs"
    sed -i "s/\[Migration(\"$stamped\")\]/[Migration(\"$3\")]/" "$project/Migrations/$3.Designer.cs"
  fi
  echo "wrote $project/Migrations/$3.cs"
}

case "${1:-}" in
  ""|-h|--help)
    sed -n '2,12p' "$0"; exit 2 ;;
  --postgresql-for)
    id=${2:?usage: bash src/add-migration.sh --postgresql-for ID}
    [ -f "src/BotService.Migrations.Sqlite/Migrations/$id.cs" ] || { echo "no SQLite migration $id" >&2; exit 1; }
    newest=$(ls src/BotService.Migrations.Sqlite/Migrations | grep -E '^[0-9]{14}_.*\.cs$' | grep -v Designer | sort | tail -1)
    [ "$newest" = "$id.cs" ] || { echo "$id is not the newest SQLite migration ($newest), so the current model is not its target" >&2; exit 1; }
    add PostgreSQL "${id#*_}" "$id" ;;
  *)
    id="$(date -u +%Y%m%d%H%M%S)_$1"
    add Sqlite "$1" "$id"
    add PostgreSQL "$1" "$id" ;;
esac
# The start-up check that skips EF Core on an up-to-date database looks for the newest id (decision 0031).
sed -i "s/public const string LatestMigration = \"[^\"]*\";/public const string LatestMigration = \"$id\";/" src/BotService.Storage/Data/StorageSetup.cs
grep -q "LatestMigration = \"$id\"" src/BotService.Storage/Data/StorageSetup.cs || { echo "could not set StorageSetup.LatestMigration to $id" >&2; exit 1; }
echo "Now read both halves (raw SQL and defaults are per provider), then run the storage tests on both providers."
