{{/* Chart name, truncated to 63 characters. */}}
{{- define "clickhouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Base name "<release>-clickhouse"; the parent chart mirrors this rule. */}}
{{- define "clickhouse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Name of the headless Service that gives the pod a stable DNS name. */}}
{{- define "clickhouse.headlessName" -}}
{{- printf "%s-headless" (include "clickhouse.fullname" . | trunc 54) | trimSuffix "-" }}
{{- end }}

{{/* Standard labels of every object. */}}
{{- define "clickhouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{ include "clickhouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ga4clone
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels: name, instance and component only. */}}
{{- define "clickhouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "clickhouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: database
{{- end }}

{{/* Secret that holds the password. */}}
{{- define "clickhouse.secretName" -}}
{{- default (include "clickhouse.fullname" .) .Values.auth.existingSecret }}
{{- end }}
