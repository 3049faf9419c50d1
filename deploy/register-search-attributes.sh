#!/bin/sh
# Register custom search attributes on a Temporal namespace, waiting for it to exist first.
#
#   sh deploy/register-search-attributes.sh OrderStatus=Keyword OrderDeadline=Datetime ...
#
# The connection is the temporal CLI's own environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
# and for Temporal Cloud TEMPORAL_API_KEY or TEMPORAL_TLS_CLIENT_CERT_PATH and
# TEMPORAL_TLS_CLIENT_KEY_PATH. WAIT_SECONDS bounds the wait (default 300).
set -eu

if [ "$#" -eq 0 ]; then
    echo "usage: $0 Name=Type ..." >&2
    exit 2
fi

for pair in "$@"; do
    name="${pair%%=*}"
    type="${pair#*=}"
    if [ -z "$name" ] || [ "$name" = "$pair" ] || [ -z "$type" ]; then
        echo "not Name=Type: $pair" >&2
        exit 2
    fi
done

namespace="${TEMPORAL_NAMESPACE:-default}"
wait_seconds="${WAIT_SECONDS:-300}"
waited=0
# auto-setup starts the server before it creates the namespace, so a healthy server is not
# enough: wait until the namespace answers.
until temporal operator namespace describe --namespace "$namespace" >/dev/null 2>&1; do
    if [ "$waited" -ge "$wait_seconds" ]; then
        echo "namespace $namespace at ${TEMPORAL_ADDRESS:-localhost:7233} not reachable after ${wait_seconds}s" >&2
        exit 1
    fi
    sleep 2
    waited=$((waited + 2))
done

for pair in "$@"; do
    name="${pair%%=*}"
    type="${pair#*=}"
    # An attribute that already exists with this type is accepted, so a rerun is harmless;
    # one with another type fails, which is what an operator needs to hear.
    temporal operator search-attribute create --namespace "$namespace" --name "$name" --type "$type"
done
echo "search attributes registered on namespace $namespace"
