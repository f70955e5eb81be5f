#!/usr/bin/env bash
# make kind-up: a kind cluster running Mandi from this checkout, the UI on http://127.0.0.1:5000.
# Needs Docker and kind on PATH; helm and kubectl come from the pinned wheel
# (mandi/testing/k8s_tools.py). Not run in CI here (no Docker on these machines).
set -euo pipefail
cd "$(dirname "$0")/../.."
CLUSTER=mandi
NS=mandi
CNPG_MANIFEST=https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/release-1.27/releases/cnpg-1.27.1.yaml
BIN=$(.venv/bin/python -c 'from mandi.testing.k8s_tools import install_k8s_bin; print(install_k8s_bin())')
HELM="$BIN/helm"
KUBECTL="$BIN/kubectl --context kind-$CLUSTER"

command -v docker >/dev/null || { echo "kind-up: docker is required" >&2; exit 1; }
command -v kind >/dev/null || { echo "kind-up: kind is required (https://kind.sigs.k8s.io)" >&2; exit 1; }

kind get clusters | grep -qx "$CLUSTER" || kind create cluster --config deploy/kind/cluster.yaml
[ -f web/package-lock.json ] || { echo "kind-up: web/package-lock.json is missing (the UI)" >&2; exit 1; }
docker build -t mandi:dev .
kind load docker-image mandi:dev --name "$CLUSTER"

# the CloudNativePG operator (the chart's TimescaleDB Cluster needs its CRDs)
$KUBECTL apply --server-side -f "$CNPG_MANIFEST"
$KUBECTL -n cnpg-system rollout status deploy/cnpg-controller-manager --timeout=180s

$HELM --kube-context "kind-$CLUSTER" upgrade --install mandi deploy/helm/mandi \
  --namespace "$NS" --create-namespace -f deploy/kind/values-kind.yaml --wait --timeout 10m
$HELM --kube-context "kind-$CLUSTER" -n "$NS" get notes mandi
echo "kind-up: forwarding http://127.0.0.1:5000 to the gateway (Ctrl-C stops the forward only)"
exec $KUBECTL -n "$NS" port-forward svc/mandi-gateway 5000:5000
