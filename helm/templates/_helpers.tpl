{{/*
Names, labels and the parts every platform pod shares. The security context is written here,
not taken from values: every pod runs as non-root with a read-only root filesystem.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "nvsi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every resource name: <release>-nvsi, or fullnameOverride (63 characters at most). */}}
{{- define "nvsi.fullname" -}}
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

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "nvsi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "nvsi.labels" -}}
helm.sh/chart: {{ include "nvsi.chart" . }}
{{ include "nvsi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nvsi
{{- end }}

{{/* Labels that select the pods of this release. */}}
{{- define "nvsi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nvsi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The service account of the pods. */}}
{{- define "nvsi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nvsi.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The platform image. */}}
{{- define "nvsi.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the app's instance folder lives (an emptyDir: the root filesystem is read-only). */}}
{{- define "nvsi.instancePath" -}}
/var/lib/nvsi/instance
{{- end }}

{{/* Pod security context of every platform pod. */}}
{{- define "nvsi.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container security context of every platform container. */}}
{{- define "nvsi.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* The writable folders: /tmp (with the metrics files) and the instance folder. */}}
{{- define "nvsi.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: instance
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.archives.existingClaim }}
- name: archives
  persistentVolumeClaim:
    claimName: {{ .Values.archives.existingClaim }}
{{- end }}
{{- end }}

{{- define "nvsi.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: instance
  mountPath: {{ include "nvsi.instancePath" . }}
{{- if .Values.archives.existingClaim }}
- name: archives
  mountPath: /archives
{{- end }}
{{- end }}

{{/*
The non-secret environment (the ConfigMap's data): NVSI_* settings from .Values.config, the
paths of the image, and GUNICORN_* from .Values.gunicorn. Text stays text; numbers, booleans and
lists are JSON (the app parses NVSI_* values as JSON where it can).
*/}}
{{- define "nvsi.configData" -}}
{{- range $key, $value := .Values.config }}
NVSI_{{ $key }}: {{ kindIs "string" $value | ternary $value (toJson $value) | quote }}
{{- end }}
NVSI_INSTANCE_PATH: {{ include "nvsi.instancePath" . | quote }}
{{- if .Values.archives.existingClaim }}
NVSI_OFFBOARDING_ARCHIVE_DIR: "/archives"
{{- end }}
NVSI_METRICS_ENABLED: {{ .Values.metrics.enabled | toJson | quote }}
GUNICORN_BIND: "0.0.0.0:8000"
GUNICORN_METRICS_BIND: {{ ternary (printf "0.0.0.0:%v" .Values.metrics.port) "" .Values.metrics.enabled | quote }}
GUNICORN_WORKERS: {{ .Values.gunicorn.workers | quote }}
GUNICORN_THREADS: {{ .Values.gunicorn.threads | quote }}
GUNICORN_TIMEOUT: {{ .Values.gunicorn.timeout | quote }}
GUNICORN_GRACEFUL_TIMEOUT: {{ .Values.gunicorn.gracefulTimeout | quote }}
GUNICORN_KEEPALIVE: {{ .Values.gunicorn.keepalive | quote }}
GUNICORN_MAX_REQUESTS: {{ .Values.gunicorn.maxRequests | quote }}
GUNICORN_MAX_REQUESTS_JITTER: {{ .Values.gunicorn.maxRequestsJitter | quote }}
GUNICORN_FORWARDED_ALLOW_IPS: {{ .Values.gunicorn.forwardedAllowIps | quote }}
GUNICORN_ACCESSLOG: {{ ternary "-" "" .Values.gunicorn.accessLog | quote }}
GUNICORN_LOGLEVEL: {{ .Values.gunicorn.logLevel | quote }}
GUNICORN_WORKER_TMP_DIR: "/dev/shm"
{{- end }}

{{/* The secrets, as references to existing Secrets: no value ever passes through the chart. */}}
{{- define "nvsi.secretEnv" -}}
- name: NVSI_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.database.existingSecret is required" .Values.secrets.database.existingSecret }}
      key: {{ .Values.secrets.database.key }}
- name: NVSI_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.secretKey.existingSecret is required" .Values.secrets.secretKey.existingSecret }}
      key: {{ .Values.secrets.secretKey.key }}
- name: NVSI_DATA_KEY
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.dataKey.existingSecret is required" .Values.secrets.dataKey.existingSecret }}
      key: {{ .Values.secrets.dataKey.key }}
{{- if .Values.secrets.redis.existingSecret }}
- name: NVSI_RATELIMIT_STORAGE_URI
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.redis.existingSecret }}
      key: {{ .Values.secrets.redis.key }}
{{- end }}
{{- if .Values.secrets.stripe.existingSecret }}
- name: NVSI_STRIPE_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.stripe.existingSecret }}
      key: {{ .Values.secrets.stripe.secretKeyKey }}
- name: NVSI_STRIPE_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.stripe.existingSecret }}
      key: {{ .Values.secrets.stripe.webhookSecretKey }}
{{- end }}
{{- if .Values.secrets.mail.existingSecret }}
- name: NVSI_MAIL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.mail.existingSecret }}
      key: {{ .Values.secrets.mail.passwordKey }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The whole environment written out in the pod (the migration hook: it runs before the ConfigMap
exists on a first install).
*/}}
{{- define "nvsi.inlineEnv" -}}
{{- range $key, $value := (include "nvsi.configData" . | fromYaml) }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{ include "nvsi.secretEnv" . }}
{{- end }}
