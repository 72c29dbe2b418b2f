#!/bin/sh
# The temporal-init step (temporalio/admin-tools): once the server answers, create the
# namespace if it is missing and register the search attributes listed in
# deploy/temporal/search-attributes (registering one that exists with the same type is a no-op;
# with another type, an error). Uses TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, as the app does.
set -eu

namespace=${TEMPORAL_NAMESPACE:-default}
retention=${TEMPORAL_NAMESPACE_RETENTION:-30d}
attributes=${SEARCH_ATTRIBUTES_FILE:-/deploy/search-attributes}
temporal=${TEMPORAL_CLI:-temporal}
tries=${TEMPORAL_INIT_TRIES:-60}
attribute_tries=${SEARCH_ATTRIBUTE_TRIES:-10}

echo "temporal-init: waiting for ${TEMPORAL_ADDRESS:-127.0.0.1:7233} to serve"
attempt=1
until "$temporal" operator cluster health >/dev/null 2>&1; do
  if [ "$attempt" -ge "$tries" ]; then
    echo "temporal-init: the server did not answer after $tries tries" >&2
    "$temporal" operator cluster health
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done

if "$temporal" operator namespace describe --namespace "$namespace" >/dev/null 2>&1; then
  echo "temporal-init: namespace $namespace exists"
else
  echo "temporal-init: creating namespace $namespace (retention $retention)"
  "$temporal" operator namespace create --namespace "$namespace" --retention "$retention"
fi

# A new namespace can take a moment to reach every frontend; retry the first registration.
grep -Ev '^[[:space:]]*(#|$)' "$attributes" | while read -r name kind; do
  attempt=1
  until "$temporal" operator search-attribute create --namespace "$namespace" \
    --name "$name" --type "$kind"; do
    if [ "$attempt" -ge "$attribute_tries" ]; then
      echo "temporal-init: could not register $name ($kind)" >&2
      exit 1
    fi
    attempt=$((attempt + 1))
    sleep 2
  done
done
echo "temporal-init: done"
