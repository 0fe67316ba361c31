#!/bin/sh
# Entry point of the agent service in docker-compose.yml (also used by its health check): runs
# `kiosk-agent "$@"` in place of this shell, so the agent is PID 1 and receives docker stop's SIGTERM.
#
# The demo profile: when the env file names no authority but offers DEMO_AUTHORITY (docker/demo/agent.env)
# and the demo's identity provider is on the network, the agent uses that provider, trusting its CA from
# the shared volume (DEMO_CA_FILE) through NODE_EXTRA_CA_CERTS; TLS checks stay on. An env file with a
# KIOSK_AUTHORITY (a real tenant) is never touched.
set -eu
if [ -z "${KIOSK_AUTHORITY:-}" ] && [ -z "${KIOSK_AUTHORITY_FILE:-}" ] && [ -n "${DEMO_AUTHORITY:-}" ]; then
  host=$(printf '%s\n' "$DEMO_AUTHORITY" | sed -n 's|^https://\([^:/]*\).*|\1|p')
  if [ -n "$host" ] && getent hosts "$host" >/dev/null 2>&1; then
    ca=${DEMO_CA_FILE:-/idp/ca.pem}
    n=0
    # The provider writes its CA when it first starts; give it up to 30 s.
    while [ ! -s "$ca" ] && [ "$n" -lt 60 ]; do sleep 0.5; n=$((n + 1)); done
    export KIOSK_AUTHORITY="$DEMO_AUTHORITY" NODE_EXTRA_CA_CERTS="$ca"
  elif [ "${1:-run}" = run ]; then
    echo "kiosk-agent: no KIOSK_AUTHORITY in the agent's env file. Run the demo with 'docker-compose --profile demo up'," \
      "or copy deploy/agent.env.example, set your tenant's KIOSK_CLIENT_ID and KIOSK_AUTHORITY, and name the file in AGENT_ENV_FILE." >&2
  fi
fi
unset DEMO_AUTHORITY DEMO_CA_FILE
exec kiosk-agent "$@"
