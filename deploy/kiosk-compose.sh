#!/bin/sh
# docker compose with this device's settings (/etc/kiosk-agent/compose.env, or KIOSK_COMPOSE_ENV), from the
# checkout this script lives in. Uses Compose v2 (`docker compose`) when present, else docker-compose 1.29.
#   deploy/kiosk-compose.sh up -d      deploy/kiosk-compose.sh logs -f agent      deploy/kiosk-compose.sh ps
set -eu
env_file=${KIOSK_COMPOSE_ENV:-/etc/kiosk-agent/compose.env}
cd "$(dirname "$0")/.."
[ -r "$env_file" ] || { echo "$0: cannot read $env_file (deploy/README.md, first boot)" >&2; exit 1; }
# COMPOSE_FILE and COMPOSE_PROJECT_NAME from the env file, for either Compose version.
for name in COMPOSE_FILE COMPOSE_PROJECT_NAME; do
  value=$(sed -n "s/^$name=//p" "$env_file" | tail -n 1)
  [ -z "$value" ] || export "$name=$value"
done
if docker compose version >/dev/null 2>&1; then
  exec docker compose --env-file "$env_file" "$@"
fi
exec docker-compose --env-file "$env_file" "$@"
