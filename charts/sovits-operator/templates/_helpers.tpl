{{/* Names ------------------------------------------------------------------------------ */}}

{{- define "sovits-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sovits-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<component>", kept within 63 characters. Call with (dict "ctx" $ "component" "api"). */}}
{{- define "sovits-operator.componentName" -}}
{{- printf "%s-%s" (include "sovits-operator.fullname" .ctx | trunc (int (sub 62 (len .component)))) .component | replace "--" "-" }}
{{- end }}

{{- define "sovits-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels ----------------------------------------------------------------------------- */}}

{{/* Selector labels never carry the chart version: selectors are immutable. */}}
{{- define "sovits-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sovits-operator.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sovits-operator.labels" -}}
helm.sh/chart: {{ include "sovits-operator.chart" .ctx }}
{{ include "sovits-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: {{ include "sovits-operator.name" .ctx }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Service accounts ------------------------------------------------------------------- */}}

{{- define "sovits-operator.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "sovits-operator.componentName" (dict "ctx" . "component" "operator")) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sovits-operator.api.serviceAccountName" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (include "sovits-operator.componentName" (dict "ctx" . "component" "api")) .Values.api.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.api.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Images ----------------------------------------------------------------------------- */}}

{{/* An image reference from {repository, tag, digest}; the digest wins, the tag defaults to appVersion. */}}
{{- define "sovits-operator.imageRef" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}
{{- end }}

{{/* Settings --------------------------------------------------------------------------- */}}

{{/*
The processes' config.yaml: the original service's sections (server, paths, gpu, training) and
our own (storage, images, operator, api), in the snake_case keys of sovits_core.settings.
Secrets never appear here; they arrive as env from Secret references.
*/}}
{{- define "sovits-operator.settings" -}}
{{- $v := .Values -}}
server:
  host: "0.0.0.0"
  port: {{ int $v.api.port }}
paths:
  work_dir: {{ $v.paths.workDir | quote }}
gpu:
  default_device: {{ $v.gpu.defaultDevice | quote }}
  max_parallel: {{ int $v.gpu.maxParallel }}
  resource_name: {{ $v.gpu.resourceName | quote }}
  node_label: {{ $v.gpu.nodeLabel | quote }}
  node_selector: {{- toYaml $v.steps.gpu.nodeSelector | nindent 4 }}
  tolerations: {{- toYaml $v.steps.gpu.tolerations | nindent 4 }}
training:
  default_epochs_s2: {{ int $v.training.defaultEpochsS2 }}
  default_epochs_s1: {{ int $v.training.defaultEpochsS1 }}
  default_batch_size: {{ int $v.training.defaultBatchSize }}
storage:
  backend: "s3"
  {{- with $v.storage.endpointUrl }}
  endpoint_url: {{ . | quote }}
  {{- end }}
  region: {{ $v.storage.region | quote }}
  bucket: {{ $v.storage.bucket | quote }}
  credentials_secret: {{ $v.storage.existingSecret | quote }}
  tasks_prefix: {{ $v.storage.tasksPrefix | quote }}
  models_prefix: {{ $v.storage.modelsPrefix | quote }}
  presign_expiry_s: {{ int $v.storage.presignExpirySeconds }}
images:
  default: {{ include "sovits-operator.imageRef" (dict "ctx" . "image" $v.steps.image) | quote }}
  per_step: {{- toYaml $v.steps.images | nindent 4 }}
  pull_policy: {{ $v.steps.image.pullPolicy | quote }}
  pull_secrets:
  {{- range $v.imagePullSecrets }}
    - {{ .name | quote }}
  {{- else }} []
  {{- end }}
operator:
  max_attempts: {{ int $v.operator.maxAttempts }}
  retry_backoff_s: {{ $v.operator.retryBackoffSeconds }}
  unschedulable_after_s: {{ $v.operator.unschedulableAfterSeconds }}
  active_deadline_s: {{ int $v.operator.activeDeadlineSeconds }}
  backoff_limit_per_index: {{ int $v.operator.backoffLimitPerIndex }}
  {{- with $v.operator.kueue.queueName }}
  queue_name: {{ . | quote }}
  {{- end }}
  delete_storage_on_delete: {{ $v.operator.deleteStorageOnDelete }}
  job_ttl_s: {{ int $v.operator.jobTtlSeconds }}
  progress_interval_s: {{ $v.operator.progressIntervalSeconds }}
  metrics_port: {{ int $v.operator.metricsPort }}
  run_as_user: {{ int $v.steps.runAsUser }}
  step_node_selector: {{- toYaml $v.steps.nodeSelector | nindent 4 }}
  step_tolerations: {{- toYaml $v.steps.tolerations | nindent 4 }}
  step_affinity: {{- toYaml $v.steps.affinity | nindent 4 }}
api:
  tokens_secret: {{ $v.api.auth.existingSecret | quote }}
  default_namespace: {{ default .Release.Namespace $v.api.defaultNamespace | quote }}
  max_upload_bytes: {{ int64 $v.api.maxUploadBytes }}
  download_mode: {{ $v.api.downloadMode | quote }}
{{- end }}

{{/* Env shared by the operator and the API: the config file and the S3 credentials. */}}
{{- define "sovits-operator.commonEnv" -}}
- name: SOVITS_CONFIG_FILE
  value: /etc/sovits/config.yaml
- name: SOVITS_STORAGE__ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.storage.existingSecret | quote }}
      key: AWS_ACCESS_KEY_ID
- name: SOVITS_STORAGE__SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.storage.existingSecret | quote }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}

{{/* Volumes shared by the operator and the API: the settings and a writable /tmp. */}}
{{- define "sovits-operator.volumes" -}}
- name: config
  configMap:
    name: {{ include "sovits-operator.fullname" . }}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "sovits-operator.volumeMounts" -}}
- name: config
  mountPath: /etc/sovits
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* RBAC kind for the watched scope: a namespaced Role, or a ClusterRole for all namespaces. */}}
{{- define "sovits-operator.roleKind" -}}
{{- if .Values.watch.allNamespaces }}ClusterRole{{ else }}Role{{ end }}
{{- end }}

{{/* Name of a cluster-scoped object: unique per release namespace, kept within 63 characters. */}}
{{- define "sovits-operator.clusterName" -}}
{{- printf "%s-%s" .ctx.Release.Namespace (include "sovits-operator.componentName" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of the (Cluster)Role of a component for the watched scope. */}}
{{- define "sovits-operator.roleName" -}}
{{- if .ctx.Values.watch.allNamespaces }}
{{- include "sovits-operator.clusterName" . }}
{{- else }}
{{- include "sovits-operator.componentName" . }}
{{- end }}
{{- end }}

{{/*
The affinity of a pod that needs no GPU: the given one, plus a node affinity keeping it off
nodes labelled <gpu.nodeLabel>=true unless it brings a node affinity of its own (the same rule
the operator applies to CPU step pods). Call with (dict "affinity" ... "label" ...).
*/}}
{{- define "sovits-operator.affinity" -}}
{{- $affinity := deepCopy (.affinity | default dict) -}}
{{- if and .label (not (hasKey $affinity "nodeAffinity")) -}}
{{- $avoid := dict "key" .label "operator" "NotIn" "values" (list "true") -}}
{{- $terms := list (dict "matchExpressions" (list $avoid)) -}}
{{- $_ := set $affinity "nodeAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (dict "nodeSelectorTerms" $terms)) -}}
{{- end -}}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
