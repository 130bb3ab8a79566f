#!/usr/bin/env bash
# Copies crds/trainingtask.yaml (the single source, generated from the model by `sovits crd`)
# into the chart as a template, so `helm upgrade` upgrades the CRD (Helm never upgrades files
# in a chart's crds/ folder). Only the metadata is templated: labels, and the keep annotation
# behind crds.keep; everything from `spec:` on is copied verbatim.
#   hack/sync-chart-crd.sh          rewrite the chart's copy
#   hack/sync-chart-crd.sh --check  exit 1 when the chart's copy has drifted
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/crds/trainingtask.yaml
dest=$root/charts/sovits-operator/templates/crd-trainingtask.yaml

if grep -q '{{' "$src"; then
  echo "$src contains '{{', which Helm would read as a template action" >&2
  exit 1
fi
# The header below rebuilds metadata from the name alone: refuse a source with more in it.
meta=$(sed -n '/^metadata:/,/^spec:/p' "$src" | sed '1d;$d')
if [[ $(wc -l <<<"$meta") -ne 1 || $meta != "  name: "* ]]; then
  echo "$src: expected metadata with only a name, got:" >&2
  echo "$meta" >&2
  exit 1
fi
name=${meta#  name: }

render() {
  cat <<HEADER
{{- if .Values.crds.enabled }}
# Copied from crds/trainingtask.yaml by hack/sync-chart-crd.sh; do not edit by hand.
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: $name
  labels:
    {{- include "sovits-operator.labels" (dict "ctx" . "component" "crds") | nindent 4 }}
  {{- if .Values.crds.keep }}
  annotations:
    helm.sh/resource-policy: keep
  {{- end }}
HEADER
  sed -n '/^spec:/,$p' "$src"
  echo '{{- end }}'
}

if [[ ${1:-} == --check ]]; then
  if ! diff -u "$dest" <(render) >&2; then
    echo "$dest differs from $src; run hack/sync-chart-crd.sh" >&2
    exit 1
  fi
  exit 0
fi
render >"$dest"
