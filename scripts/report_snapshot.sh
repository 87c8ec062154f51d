#!/usr/bin/env bash
# Sync the large sandbox practice (10 clinics, 3 years, today 2026-11-26) into a fresh SQLite
# file and write every report (JSON, CSV, HTML) to OUT_DIR: run it before and after a refactor and
# diff the two folders (freshness, generation times and sync durations aside).
#
#   scripts/report_snapshot.sh /tmp/before; ...; scripts/report_snapshot.sh /tmp/after
#   diff -r /tmp/before /tmp/after
set -euo pipefail
REPO=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel); OUT=${1:?usage: scripts/report_snapshot.sh OUT_DIR}; PORT=${PORT:-8799}
AIQ="$REPO/.venv/bin/aiq"
work=$(mktemp -d); export AIQ_CONFIG_DIR=$work/config AIQ_DATA_DIR=$work/data AIQ_MASTER_KEY_FILE=$work/key
head -c 32 /dev/urandom | base64 > $work/key; chmod 600 $work/key
$AIQ sandbox serve --port $PORT --clinics 10 --years 3 --today 2026-11-26 > $work/sb.log 2>&1 &
sb=$!; trap 'kill $sb 2>/dev/null; rm -rf $work' EXIT
for i in $(seq 1 600); do curl -s -o /dev/null http://127.0.0.1:$PORT/ && break; sleep 1; done
printf 'sandbox-password\n' | $AIQ login --email owner@glowmedspa.example --password-stdin --base-url http://127.0.0.1:$PORT --org Large >/dev/null 2>&1
$AIQ sync --today 2026-11-26 --quiet
mkdir -p $OUT
T="--today 2026-11-26"
$AIQ report revenue --month 2026-10 $T --format json > $OUT/revenue.json
$AIQ report revenue --from 2026-01-01 --to 2026-11-25 $T --format json > $OUT/revenue_ytd.json
$AIQ report appointments --month 2026-10 $T --format json > $OUT/appointments.json
$AIQ report appointments --month 2026-10 --by provider $T --format json > $OUT/appointments_provider.json
$AIQ report providers --month 2026-10 $T --format json > $OUT/providers.json
$AIQ report services --month 2026-10 $T --format json > $OUT/services.json
$AIQ report products --month 2026-10 $T --format json > $OUT/products.json
$AIQ report monthly --month 2026-10 $T --format json > $OUT/monthly.json
$AIQ report revenue --month 2026-10 $T --format csv > $OUT/revenue.csv
$AIQ report monthly --month 2026-10 $T --html $OUT/monthly.html >/dev/null 2>&1 || true
ls -la $OUT
