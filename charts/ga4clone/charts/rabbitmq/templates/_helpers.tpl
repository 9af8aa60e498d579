{{/* Chart name, truncated to 63 characters. */}}
{{- define "rabbitmq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Base name "<release>-rabbitmq"; the parent chart mirrors this rule. */}}
{{- define "rabbitmq.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Name of the headless Service that gives pods stable DNS names. */}}
{{- define "rabbitmq.headlessName" -}}
{{- printf "%s-headless" (include "rabbitmq.fullname" . | trunc 54) | trimSuffix "-" }}
{{- end }}

{{/* Standard labels of every object. */}}
{{- define "rabbitmq.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{ include "rabbitmq.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ga4clone
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels: name, instance and component only. */}}
{{- define "rabbitmq.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rabbitmq.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: broker
{{- end }}

{{/* Secret that holds the password and the AMQP URL. */}}
{{- define "rabbitmq.secretName" -}}
{{- default (include "rabbitmq.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{/* Password: the value, else the one already stored, else a new random one. */}}
{{- define "rabbitmq.password" -}}
{{- if .Values.auth.password }}
{{- .Values.auth.password }}
{{- else }}
{{- $stored := lookup "v1" "Secret" .Release.Namespace (include "rabbitmq.fullname" .) }}
{{- if $stored }}
{{- index $stored.data .Values.auth.existingSecretPasswordKey | b64dec }}
{{- else }}
{{- randAlphaNum 24 }}
{{- end }}
{{- end }}
{{- end }}
