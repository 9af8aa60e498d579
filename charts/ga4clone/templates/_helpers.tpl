{{/* Chart name, truncated to 63 characters. */}}
{{- define "ga4clone.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Base name of every object; the release name alone when it already holds the chart name. */}}
{{- define "ga4clone.fullname" -}}
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

{{/* Value of the helm.sh/chart label. */}}
{{- define "ga4clone.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels shared by every object; ga4clone.componentLabels adds the component. */}}
{{- define "ga4clone.labels" -}}
helm.sh/chart: {{ include "ga4clone.chart" . }}
{{ include "ga4clone.selectorLabels" . }}
app.kubernetes.io/version: {{ include "ga4clone.imageTag" . | quote }}
app.kubernetes.io/part-of: ga4clone
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels shared by every component: name and instance. */}}
{{- define "ga4clone.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ga4clone.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* "<fullname>-<component>", truncated to 63; takes (dict "ctx" $ "component" "api"). */}}
{{- define "ga4clone.componentName" -}}
{{- printf "%s-%s" (include "ga4clone.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels of one component; takes (dict "ctx" $ "component" "api"). */}}
{{- define "ga4clone.componentLabels" -}}
{{ include "ga4clone.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Selector labels of one component: name, instance, component. */}}
{{- define "ga4clone.componentSelectorLabels" -}}
{{ include "ga4clone.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Name of the API's objects. */}}
{{- define "ga4clone.api.fullname" -}}
{{- include "ga4clone.componentName" (dict "ctx" . "component" "api") }}
{{- end }}

{{/* Labels of the API's objects. */}}
{{- define "ga4clone.api.labels" -}}
{{- include "ga4clone.componentLabels" (dict "ctx" . "component" "api") }}
{{- end }}

{{/* Selector labels of the API's pods. */}}
{{- define "ga4clone.api.selectorLabels" -}}
{{- include "ga4clone.componentSelectorLabels" (dict "ctx" . "component" "api") }}
{{- end }}

{{/* Name of the worker's objects. */}}
{{- define "ga4clone.worker.fullname" -}}
{{- include "ga4clone.componentName" (dict "ctx" . "component" "worker") }}
{{- end }}

{{/* Labels of the worker's objects. */}}
{{- define "ga4clone.worker.labels" -}}
{{- include "ga4clone.componentLabels" (dict "ctx" . "component" "worker") }}
{{- end }}

{{/* Selector labels of the worker's pods. */}}
{{- define "ga4clone.worker.selectorLabels" -}}
{{- include "ga4clone.componentSelectorLabels" (dict "ctx" . "component" "worker") }}
{{- end }}

{{/* Name of the migration Job and its hook Secret. */}}
{{- define "ga4clone.migrations.fullname" -}}
{{- include "ga4clone.componentName" (dict "ctx" . "component" "migrations") }}
{{- end }}

{{/* Labels of the migration Job and its hook Secret. */}}
{{- define "ga4clone.migrations.labels" -}}
{{- include "ga4clone.componentLabels" (dict "ctx" . "component" "migrations") }}
{{- end }}

{{/* Name of the `helm test` Pod. */}}
{{- define "ga4clone.test.fullname" -}}
{{- include "ga4clone.componentName" (dict "ctx" . "component" "test") }}
{{- end }}

{{/* Labels of the `helm test` Pod. */}}
{{- define "ga4clone.test.labels" -}}
{{- include "ga4clone.componentLabels" (dict "ctx" . "component" "test") }}
{{- end }}

{{/* Name of the ServiceAccount the pods run as. */}}
{{- define "ga4clone.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ga4clone.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image tag: image.tag, else the chart's appVersion. */}}
{{- define "ga4clone.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/* Full image reference. */}}
{{- define "ga4clone.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "ga4clone.imageTag" .) }}
{{- end }}

{{/* Secret of the release holding the passwords of external services. */}}
{{- define "ga4clone.secretName" -}}
{{- include "ga4clone.fullname" . }}
{{- end }}

{{/*
Where RabbitMQ is and where its password lives, as YAML: host, port, user,
secretName, passwordKey, amqpUrlKey. Bundled names mirror the subchart's
"<release>-rabbitmq" rule, and bundled ports are the subchart's Service port.
Takes (dict "ctx" $ "hook" bool): hook objects read an inline password from
the migrations hook Secret, which exists before them.
*/}}
{{- define "ga4clone.rabbitmq.connection" -}}
{{- $v := .ctx.Values }}
{{- if $v.rabbitmq.enabled }}
{{- $name := default (printf "%s-rabbitmq" .ctx.Release.Name) $v.rabbitmq.fullnameOverride | trunc 63 | trimSuffix "-" }}
host: {{ $name }}
port: {{ $v.rabbitmq.service.amqpPort }}
user: {{ $v.rabbitmq.auth.username }}
secretName: {{ default $name $v.rabbitmq.auth.existingSecret }}
passwordKey: {{ $v.rabbitmq.auth.existingSecretPasswordKey }}
amqpUrlKey: {{ $v.rabbitmq.auth.existingSecretAmqpUrlKey }}
{{- else }}
{{- $e := $v.externalRabbitmq }}
host: {{ required "externalRabbitmq.host is required when rabbitmq.enabled is false" $e.host }}
port: {{ $e.port }}
user: {{ $e.user }}
{{- if $e.existingSecret }}
secretName: {{ $e.existingSecret }}
passwordKey: {{ $e.existingSecretPasswordKey }}
amqpUrlKey: {{ $e.existingSecretAmqpUrlKey }}
{{- else }}
secretName: {{ ternary (include "ga4clone.migrations.fullname" .ctx) (include "ga4clone.secretName" .ctx) .hook }}
passwordKey: rabbitmq-password
amqpUrlKey: rabbitmq-amqp-url
{{- end }}
{{- end }}
{{- end }}

{{/* Where ClickHouse is and where its password lives, as YAML; see ga4clone.rabbitmq.connection. */}}
{{- define "ga4clone.clickhouse.connection" -}}
{{- $v := .ctx.Values }}
{{- if $v.clickhouse.enabled }}
{{- $name := default (printf "%s-clickhouse" .ctx.Release.Name) $v.clickhouse.fullnameOverride | trunc 63 | trimSuffix "-" }}
host: {{ $name }}
port: {{ $v.clickhouse.service.nativePort }}
user: {{ $v.clickhouse.auth.username }}
secretName: {{ default $name $v.clickhouse.auth.existingSecret }}
passwordKey: {{ $v.clickhouse.auth.existingSecretPasswordKey }}
{{- else }}
{{- $e := $v.externalClickhouse }}
host: {{ required "externalClickhouse.host is required when clickhouse.enabled is false" $e.host }}
port: {{ $e.port }}
user: {{ $e.user }}
{{- if $e.existingSecret }}
secretName: {{ $e.existingSecret }}
passwordKey: {{ $e.existingSecretPasswordKey }}
{{- else }}
secretName: {{ ternary (include "ga4clone.migrations.fullname" .ctx) (include "ga4clone.secretName" .ctx) .hook }}
passwordKey: clickhouse-password
{{- end }}
{{- end }}
{{- end }}

{{/* Where PostgreSQL is and where its password lives, as YAML; see ga4clone.rabbitmq.connection. */}}
{{- define "ga4clone.postgresql.connection" -}}
{{- $v := .ctx.Values }}
{{- if $v.postgresql.enabled }}
{{- $name := default (printf "%s-postgresql" .ctx.Release.Name) $v.postgresql.fullnameOverride | trunc 63 | trimSuffix "-" }}
host: {{ $name }}
port: {{ $v.postgresql.service.port }}
user: {{ $v.postgresql.auth.username }}
database: {{ $v.postgresql.auth.database }}
secretName: {{ default $name $v.postgresql.auth.existingSecret }}
passwordKey: {{ $v.postgresql.auth.existingSecretPasswordKey }}
{{- else }}
{{- $e := $v.externalPostgresql }}
host: {{ required "externalPostgresql.host is required when postgresql.enabled is false" $e.host }}
port: {{ $e.port }}
user: {{ $e.user }}
database: {{ $e.database }}
{{- if $e.existingSecret }}
secretName: {{ $e.existingSecret }}
passwordKey: {{ $e.existingSecretPasswordKey }}
{{- else }}
secretName: {{ ternary (include "ga4clone.migrations.fullname" .ctx) (include "ga4clone.secretName" .ctx) .hook }}
passwordKey: postgres-password
{{- end }}
{{- end }}
{{- end }}

{{/* Passwords of external services kept in a Secret of the release, as YAML key: value. */}}
{{- define "ga4clone.inlinePasswords" -}}
{{- $v := .Values }}
{{- if and (not $v.rabbitmq.enabled) (not $v.externalRabbitmq.existingSecret) }}
{{- $e := $v.externalRabbitmq }}
rabbitmq-password: {{ $e.password | quote }}
{{- /* urlquery writes a space as "+"; a URI's user info needs "%20" (a literal "+" is already "%2B"). */}}
{{- $user := urlquery $e.user | replace "+" "%20" }}
{{- $password := urlquery $e.password | replace "+" "%20" }}
{{- $vhost := urlquery $v.config.rabbitmq.vhost | replace "+" "%20" }}
rabbitmq-amqp-url: {{ printf "amqp://%s:%s@%s:%d/%s" $user $password $e.host (int $e.port) $vhost | quote }}
{{- end }}
{{- if and (not $v.clickhouse.enabled) (not $v.externalClickhouse.existingSecret) }}
clickhouse-password: {{ $v.externalClickhouse.password | quote }}
{{- end }}
{{- if and (not $v.postgresql.enabled) (not $v.externalPostgresql.existingSecret) }}
postgres-password: {{ $v.externalPostgresql.password | quote }}
{{- end }}
{{- end }}

{{/* Non-secret settings of every ga4clone container, as YAML key: value (the ConfigMap's data). */}}
{{- define "ga4clone.configData" -}}
{{- $c := .Values.config }}
{{- $rabbitmq := fromYaml (include "ga4clone.rabbitmq.connection" (dict "ctx" . "hook" false)) }}
{{- $clickhouse := fromYaml (include "ga4clone.clickhouse.connection" (dict "ctx" . "hook" false)) }}
{{- $postgresql := fromYaml (include "ga4clone.postgresql.connection" (dict "ctx" . "hook" false)) -}}
LOG_LEVEL: {{ $c.logLevel | quote }}
SERVER_HOST: "0.0.0.0"
SERVER_PORT: {{ .Values.api.port | int64 | quote }}
MAX_BODY_BYTES: {{ $c.maxBodyBytes | int64 | quote }}
MAX_BATCH_EVENTS: {{ $c.maxBatchEvents | int64 | quote }}
PUBLISH_CONFIRM_TIMEOUT_MS: {{ $c.publishConfirmTimeoutMs | int64 | quote }}
RETRY_AFTER_SECONDS: {{ $c.retryAfterSeconds | int64 | quote }}
TRUSTED_PROXIES: {{ join "," $c.trustedProxies | quote }}
MAX_JSON_DEPTH: {{ $c.maxJsonDepth | int64 | quote }}
KEY_CACHE_TTL_S: {{ include "ga4clone.number" $c.keyCacheTtlSeconds | quote }}
RATE_LIMIT_EVENTS_PER_SECOND: {{ include "ga4clone.number" $c.rateLimit.eventsPerSecond | quote }}
RATE_LIMIT_BURST: {{ $c.rateLimit.burst | int64 | quote }}
RATE_LIMIT_LEASE_EVENTS: {{ $c.rateLimit.leaseEvents | int64 | quote }}
CLIENT_IP_MODE: {{ $c.clientIpMode | quote }}
REPORTS_MAX_ROWS: {{ $c.reports.maxRows | int64 | quote }}
REPORTS_EXACT_COUNTS: {{ $c.reports.exactCounts | toString | quote }}
RABBITMQ_HOST: {{ $rabbitmq.host | quote }}
RABBITMQ_PORT: {{ $rabbitmq.port | int64 | quote }}
RABBITMQ_USER: {{ $rabbitmq.user | quote }}
RABBITMQ_VHOST: {{ $c.rabbitmq.vhost | quote }}
RABBITMQ_EXCHANGE: {{ $c.rabbitmq.exchange | quote }}
RABBITMQ_QUEUE: {{ $c.rabbitmq.queue | quote }}
RABBITMQ_DEAD_LETTER_EXCHANGE: {{ $c.rabbitmq.deadLetterExchange | quote }}
RABBITMQ_DEAD_LETTER_QUEUE: {{ $c.rabbitmq.deadLetterQueue | quote }}
RABBITMQ_DELIVERY_LIMIT: {{ $c.rabbitmq.deliveryLimit | int64 | quote }}
CLICKHOUSE_HOST: {{ $clickhouse.host | quote }}
CLICKHOUSE_PORT: {{ $clickhouse.port | int64 | quote }}
CLICKHOUSE_USER: {{ $clickhouse.user | quote }}
CLICKHOUSE_DATABASE: {{ $c.clickhouseDatabase | quote }}
POSTGRES_HOST: {{ $postgresql.host | quote }}
POSTGRES_PORT: {{ $postgresql.port | int64 | quote }}
POSTGRES_DB: {{ $postgresql.database | quote }}
POSTGRES_USER: {{ $postgresql.user | quote }}
WORKER_BATCH_SIZE: {{ .Values.worker.batchSize | int64 | quote }}
WORKER_FLUSH_INTERVAL_MS: {{ .Values.worker.flushIntervalMs | int64 | quote }}
WORKER_PREFETCH: {{ .Values.worker.prefetch | int64 | quote }}
WORKER_METRICS_PORT: {{ .Values.worker.metricsPort | int64 | quote }}
WORKER_RETRY_MAX_MS: {{ .Values.worker.retryMaxMs | int64 | quote }}
STORE_BOTS: {{ .Values.worker.storeBots | toString | quote }}
GEOIP_DATABASE_PATH: {{ include "ga4clone.worker.geoipPath" . | quote }}
{{- with $c.migrationsDir }}
MIGRATIONS_DIR: {{ . | quote }}
{{- end }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .Values.otel.endpoint | quote }}
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: {{ .Values.otel.tracesEndpoint | quote }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ .Values.otel.protocol | quote }}
OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: {{ .Values.otel.protocol | quote }}
OTEL_TRACES_EXPORTER: {{ .Values.otel.tracesExporter | quote }}
OTEL_TRACES_SAMPLER: {{ .Values.otel.sampler | quote }}
OTEL_TRACES_SAMPLER_ARG: {{ .Values.otel.samplerArg | quote }}
{{- end }}

{{/* A number as the environment should see it: 1000000 rather than 1e+06, 0.5 as is. */}}
{{- define "ga4clone.number" -}}
{{- if eq (float64 (int64 .)) (float64 .) }}
{{- int64 . }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/* GEOIP_DATABASE_PATH: worker.geoip.databasePath, else the file on the mounted volume, else empty. */}}
{{- define "ga4clone.worker.geoipPath" -}}
{{- $g := .Values.worker.geoip }}
{{- if $g.databasePath }}
{{- $g.databasePath }}
{{- else if $g.existingVolume }}
{{- printf "%s/%s" (trimSuffix "/" $g.mountPath) $g.fileName }}
{{- end }}
{{- end }}

{{/* Name of the test-hook Secret holding tests.apiKey and tests.projectId. */}}
{{- define "ga4clone.test.secretName" -}}
{{- if .Values.tests.existingSecret }}
{{- .Values.tests.existingSecret }}
{{- else }}
{{- include "ga4clone.test.fullname" . }}
{{- end }}
{{- end }}

{{/* "true" when the `helm test` Pod has a write key to post an event with. */}}
{{- define "ga4clone.test.hasKey" -}}
{{- if or .Values.tests.existingSecret .Values.tests.apiKey }}true{{ end }}
{{- end }}

{{/* "true" when the `helm test` Pod makes its own throwaway project (no write key is configured). */}}
{{- define "ga4clone.test.createsProject" -}}
{{- if and .Values.tests.createProject (not (include "ga4clone.test.hasKey" .)) }}true{{ end }}
{{- end }}

{{/* Password variables from Secrets; takes (dict "ctx" $ "hook" bool). */}}
{{- define "ga4clone.secretEnv" -}}
{{- $names := dict "rabbitmq" "RABBITMQ_PASSWORD" "clickhouse" "CLICKHOUSE_PASSWORD" "postgresql" "POSTGRES_PASSWORD" }}
{{- $env := list }}
{{- range $service := list "rabbitmq" "clickhouse" "postgresql" }}
{{- $conn := fromYaml (include (printf "ga4clone.%s.connection" $service) $) }}
{{- $ref := dict "name" $conn.secretName "key" $conn.passwordKey }}
{{- $env = append $env (dict "name" (get $names $service) "valueFrom" (dict "secretKeyRef" $ref)) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{/* OpenTelemetry identity of a pod, from the downward API; takes (dict "ctx" $ "component" "api"). */}}
{{- define "ga4clone.otelEnv" -}}
{{- $attributes := list "k8s.pod.name=$(K8S_POD_NAME)" "k8s.namespace.name=$(K8S_NAMESPACE_NAME)" }}
{{- range $key, $value := .ctx.Values.otel.resourceAttributes }}
{{- $attributes = append $attributes (printf "%s=%s" $key $value) }}
{{- end -}}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OTEL_SERVICE_NAME
  value: {{ printf "%s-%s" (default (include "ga4clone.name" .ctx) .ctx.Values.otel.serviceName) .component | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attributes | quote }}
{{- end }}

{{/* Volumes every ga4clone pod mounts: a writable /tmp under the read-only root. */}}
{{- define "ga4clone.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/* Hook events of the migration Job; see migrations.hookEvents in values.yaml. */}}
{{- define "ga4clone.migrations.hookEvents" -}}
{{- if .Values.migrations.hookEvents }}
{{- .Values.migrations.hookEvents }}
{{- else if or .Values.postgresql.enabled .Values.clickhouse.enabled }}
{{- "post-install,pre-upgrade" }}
{{- else }}
{{- "pre-install,pre-upgrade" }}
{{- end }}
{{- end }}

{{/* HPA behavior of the worker: scale up fast, scale down slowly. */}}
{{- define "ga4clone.worker.behavior" -}}
{{- $b := .Values.worker.autoscaling.behavior -}}
scaleUp:
  stabilizationWindowSeconds: {{ $b.scaleUp.stabilizationWindowSeconds }}
  selectPolicy: Max
  policies:
    - type: Pods
      value: {{ $b.scaleUp.podsPerPeriod }}
      periodSeconds: 30
    - type: Percent
      value: {{ $b.scaleUp.percentPerPeriod }}
      periodSeconds: 30
scaleDown:
  stabilizationWindowSeconds: {{ $b.scaleDown.stabilizationWindowSeconds }}
  selectPolicy: Min
  policies:
    - type: Pods
      value: {{ $b.scaleDown.podsPerPeriod }}
      periodSeconds: 60
{{- end }}

{{/* PromQL label matchers that pick this release's series. */}}
{{- define "ga4clone.metricsMatchers" -}}
namespace="{{ .Release.Namespace }}"
{{- end }}

{{/* preStop of the API: the sleep action where the cluster has it (1.30+), else `sleep` in the image. */}}
{{- define "ga4clone.api.preStop" -}}
{{- if semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version -}}
sleep:
  seconds: {{ .Values.api.preStopSleepSeconds }}
{{- else -}}
exec:
  command: ["sleep", {{ .Values.api.preStopSleepSeconds | quote }}]
{{- end }}
{{- end }}

{{/*
Seconds an API pod needs after SIGTERM, past its preStop sleep: uvicorn
drains the requests in flight for up to 30 s (timeout_graceful_shutdown in
src/ga4clone/cli.py, not a setting), then the lifespan shutdown closes the
publisher and the database pools (5 s).
*/}}
{{- define "ga4clone.api.drainSeconds" -}}
{{- add 30 5 }}
{{- end }}

{{/*
Seconds a worker pod needs after SIGTERM. The worker stops consuming and
flushes its batch at once (src/ga4clone/worker/consumer.py); the worst case
is a store outage: a flush already due (flushIntervalMs), one backoff sleep
of up to retryMaxMs, then a last attempt that gives up and requeues the
batch (10 s: the 5 s connect timeouts of ClickHouse and PostgreSQL). An
insert that hangs on a live connection (send_receive_timeout, 60 s) is not
covered: Kubernetes kills it and RabbitMQ redelivers the batch.
*/}}
{{- define "ga4clone.worker.drainSeconds" -}}
{{- $flush := div (add (int64 .Values.worker.flushIntervalMs) 999) 1000 }}
{{- $retry := div (add (int64 .Values.worker.retryMaxMs) 999) 1000 }}
{{- add $flush $retry 10 }}
{{- end }}

{{/* Stops the render with a clear message when values do not fit together. */}}
{{- define "ga4clone.validate" -}}
{{- $apiDrain := include "ga4clone.api.drainSeconds" . | int }}
{{- $apiGrace := add (int .Values.api.preStopSleepSeconds) $apiDrain }}
{{- if lt (int .Values.api.terminationGracePeriodSeconds) (int $apiGrace) }}
{{- fail (printf "api.terminationGracePeriodSeconds (%d) must be at least %d: api.preStopSleepSeconds (%d) + %d s for the API to drain requests in flight and close its connections, or requests in flight are cut off" (int .Values.api.terminationGracePeriodSeconds) (int $apiGrace) (int .Values.api.preStopSleepSeconds) $apiDrain) }}
{{- end }}
{{- $workerGrace := include "ga4clone.worker.drainSeconds" . | int }}
{{- if lt (int .Values.worker.terminationGracePeriodSeconds) $workerGrace }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d) must be at least %d: worker.flushIntervalMs and worker.retryMaxMs in seconds + 10 s for a last write, or a batch in hand is cut off before it is stored or requeued" (int .Values.worker.terminationGracePeriodSeconds) $workerGrace) }}
{{- end }}
{{- if and .Values.tests.enabled .Values.tests.apiKey (not .Values.tests.existingSecret) (not .Values.tests.projectId) }}
{{- fail "tests.projectId is required with tests.apiKey: the API refuses an event whose projectId is not the key's project" }}
{{- end }}
{{- $rateLimit := .Values.config.rateLimit }}
{{- if and (gt (float64 $rateLimit.eventsPerSecond) 0.0) (lt (int64 $rateLimit.burst) (int64 .Values.config.maxBatchEvents)) }}
{{- fail (printf "config.rateLimit.burst (%d) must be at least config.maxBatchEvents (%d): a batch is admitted whole, so a larger one could never pass (the app refuses to start)" (int64 $rateLimit.burst) (int64 .Values.config.maxBatchEvents)) }}
{{- end }}
{{- if and .Values.rabbitmq.enabled (ne .Values.config.rabbitmq.vhost .Values.rabbitmq.vhost) }}
{{- fail (printf "config.rabbitmq.vhost (%q) must equal rabbitmq.vhost (%q): the bundled broker creates only rabbitmq.vhost, and KEDA's AMQP URL names it" .Values.config.rabbitmq.vhost .Values.rabbitmq.vhost) }}
{{- end }}
{{- if eq .Values.worker.autoscaling.mode "hpa" }}
{{- $queue := .Values.config.rabbitmq.queue }}
{{- if or (gt (len $queue) 63) (not (regexMatch "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$" $queue)) }}
{{- fail (printf "config.rabbitmq.queue (%q) is not a Kubernetes label value, so the worker's HPA cannot select it as queue=...: use a name of at most 63 letters, digits, '-', '_' and '.', or autoscaling mode keda" $queue) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Worker autoscaling mode in force: worker.autoscaling.mode, except that keda
falls back to none (fixed replicas, and a warning in NOTES) when the cluster
does not serve keda.sh/v1alpha1, so that an install never waits on a missing CRD.
*/}}
{{- define "ga4clone.worker.autoscalingMode" -}}
{{- $mode := .Values.worker.autoscaling.mode }}
{{- if and (eq $mode "keda") (not (include "ga4clone.apiAvailable" (dict "ctx" . "api" "keda.sh/v1alpha1"))) }}
{{- "none" }}
{{- else }}
{{- $mode }}
{{- end }}
{{- end }}

{{/* "true" when the cluster serves the Prometheus Operator's monitoring.coreos.com/v1. */}}
{{- define "ga4clone.monitoringAvailable" -}}
{{- include "ga4clone.apiAvailable" (dict "ctx" . "api" "monitoring.coreos.com/v1") }}
{{- end }}

{{/*
"true" when the cluster serves the API version .api, or assumeApiVersions
lists it (for renders that cannot see the cluster, such as helm lint).
*/}}
{{- define "ga4clone.apiAvailable" -}}
{{- if or (.ctx.Capabilities.APIVersions.Has .api) (has .api .ctx.Values.assumeApiVersions) }}true{{ end }}
{{- end }}
