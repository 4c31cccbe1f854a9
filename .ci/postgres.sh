#!/usr/bin/env bash
# Start a local PostgreSQL for the storage tests (CI runs as root; Debian's cluster tools).
# Prints the URL the tests read from PERIMETER_TEST_POSTGRES_URL.
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
version=$(pg_lsclusters -h | awk 'NR==1{print $1}')
cluster=$(pg_lsclusters -h | awk 'NR==1{print $2}')
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  cluster=main
  pg_createcluster "$version" "$cluster" >/dev/null 2>&1
fi
pg_ctlcluster "$version" "$cluster" start >/dev/null 2>&1 || true
port=$(pg_lsclusters -h | awk 'NR==1{print $3}')
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='perimeter'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE perimeter LOGIN PASSWORD 'perimeter'\"" >/dev/null
# A throwaway test cluster: superuser, so dropping a test database may end autovacuum's session on it.
su postgres -c "psql -qc \"ALTER ROLE perimeter SUPERUSER\"" >/dev/null
echo "postgresql+psycopg://perimeter:perimeter@127.0.0.1:${port}/postgres"
