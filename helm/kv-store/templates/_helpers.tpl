{{/*
The chart name, or nameOverride. Kubernetes names are DNS labels: at most 63 characters.
*/}}
{{- define "kv-store.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's resources: fullnameOverride, else <release>-<name>, or just the release
name when it already contains the chart name (so `helm install kv-store ./kv-store` gives `kv-store`).
*/}}
{{- define "kv-store.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label ("+" is not allowed in label values).
*/}}
{{- define "kv-store.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object. The version label changes on upgrades, so it must never be part of a selector.
*/}}
{{- define "kv-store.labels" -}}
helm.sh/chart: {{ include "kv-store.chart" . }}
{{ include "kv-store.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: name and instance only. Selectors are immutable, so they hold nothing that changes
between releases of the chart or the app.
*/}}
{{- define "kv-store.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kv-store.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kv-store.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kv-store.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kv-store.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The fewest pods the release is guaranteed to run: what decides whether a PodDisruptionBudget can be met.
*/}}
{{- define "kv-store.replicaFloor" -}}
{{- if .Values.autoscaling.enabled }}
{{- .Values.autoscaling.minReplicas | int }}
{{- else }}
{{- .Values.replicaCount | int }}
{{- end }}
{{- end }}

{{/*
Seconds Kubernetes waits after SIGTERM before SIGKILL: the server's whole drain (SHUTDOWN_DELAY_MS, then
up to SHUTDOWN_TIMEOUT_MS), rounded up to whole seconds, plus a margin for closing the store and exiting.
Derived from the same values that set the two env vars, so they cannot drift apart.
*/}}
{{- define "kv-store.terminationGracePeriodSeconds" -}}
{{- $drainMs := add (int .Values.config.shutdownDelayMs) (int .Values.config.shutdownTimeoutMs) }}
{{- add (div (add $drainMs 999) 1000) (int .Values.config.terminationGraceMarginSeconds) }}
{{- end }}

{{/*
Whether the chart creates its own Secret, and what goes in it.
*/}}
{{- define "kv-store.redisUrlFromChartSecret" -}}
{{- if and (eq .Values.store.driver "redis") .Values.redis.url (not .Values.redis.auth.password) (not .Values.redis.auth.existingSecret) }}true{{ end }}
{{- end }}

{{- define "kv-store.redisPasswordFromChartSecret" -}}
{{- if and (eq .Values.store.driver "redis") .Values.redis.auth.password (not .Values.redis.auth.existingSecret) }}true{{ end }}
{{- end }}

{{- define "kv-store.apiKeysFromChartSecret" -}}
{{- if and .Values.auth.enabled (not .Values.auth.existingSecret) }}true{{ end }}
{{- end }}

{{- define "kv-store.createSecret" -}}
{{- if or (include "kv-store.redisUrlFromChartSecret" .) (include "kv-store.redisPasswordFromChartSecret" .) (include "kv-store.apiKeysFromChartSecret" .) }}true{{ end }}
{{- end }}

{{- define "kv-store.apiKeysSecretName" -}}
{{- default (include "kv-store.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "kv-store.apiKeysSecretKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}api-keys{{ end }}
{{- end }}

{{- define "kv-store.apiKeysFile" -}}
{{- printf "%s/api-keys" (trimSuffix "/" .Values.auth.mountPath) }}
{{- end }}

{{- define "kv-store.snapshotClaimName" -}}
{{- default (printf "%s-snapshot" (include "kv-store.fullname" .)) .Values.store.memory.snapshot.persistence.existingClaim }}
{{- end }}

{{- define "kv-store.snapshotEnabled" -}}
{{- if and (eq .Values.store.driver "memory") .Values.store.memory.snapshot.enabled }}true{{ end }}
{{- end }}

{{/*
Combinations the schema cannot express. Each fails the install (and `helm template`) with what to change.
*/}}
{{- define "kv-store.validate" -}}
{{- $v := .Values }}
{{- if eq $v.store.driver "memory" }}
{{- if $v.autoscaling.enabled }}
{{- fail (printf "\n\nstore.driver=memory cannot be autoscaled: every replica the HorizontalPodAutoscaler adds would hold its own, different keyspace (the known issue of the services kv-store replaces: a read depends on which pod answers, and a pod's data is lost when it goes).\nSet store.driver=redis (with redis.url or redis.existingSecret) so that every replica serves one shared keyspace, or set autoscaling.enabled=false and replicaCount=1.") }}
{{- end }}
{{- if gt (int $v.replicaCount) 1 }}
{{- fail (printf "\n\nstore.driver=memory cannot run replicaCount=%d: each of the %d pods would hold its own, different keyspace (the known issue of the services kv-store replaces: a read depends on which pod answers, and a pod's data is lost when it goes).\nSet store.driver=redis (with redis.url or redis.existingSecret) so that every replica serves one shared keyspace, or set replicaCount=1." (int $v.replicaCount) (int $v.replicaCount)) }}
{{- end }}
{{- else }}
{{- if $v.store.memory.snapshot.enabled }}
{{- fail "\n\nstore.memory.snapshot only applies to store.driver=memory: with store.driver=redis the keyspace already lives in Redis. Set store.memory.snapshot.enabled=false." }}
{{- end }}
{{- if and (not $v.redis.url) (not $v.redis.existingSecret) }}
{{- fail "\n\nstore.driver=redis needs a Redis to connect to: set redis.url (e.g. redis://:password@my-redis-master:6379, or rediss:// for TLS) or redis.existingSecret (a Secret whose key redis.existingSecretKey holds that URL)." }}
{{- end }}
{{- if and $v.redis.url $v.redis.existingSecret }}
{{- fail "\n\nredis.url and redis.existingSecret are both set: give the Redis URL one way only." }}
{{- end }}
{{- if or $v.redis.auth.password $v.redis.auth.existingSecret }}
{{- if not $v.redis.url }}
{{- fail "\n\nredis.auth supplies only the password: also set redis.url to the Redis address without credentials (e.g. redis://my-redis-master:6379), or put the whole URL in redis.existingSecret and leave redis.auth empty." }}
{{- end }}
{{- if contains "@" $v.redis.url }}
{{- fail "\n\nredis.url already carries credentials (user@ or :password@) while redis.auth supplies a password: use one or the other." }}
{{- end }}
{{- if and $v.redis.auth.password $v.redis.auth.existingSecret }}
{{- fail "\n\nredis.auth.password and redis.auth.existingSecret are both set: give the Redis password one way only." }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail (printf "\n\nautoscaling.minReplicas (%d) is above autoscaling.maxReplicas (%d)." (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and $v.autoscaling.enabled (not $v.autoscaling.targetCPUUtilizationPercentage) (not $v.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail "\n\nautoscaling is enabled without a metric: set autoscaling.targetCPUUtilizationPercentage and/or autoscaling.targetMemoryUtilizationPercentage." }}
{{- end }}
{{- if and $v.auth.enabled (not $v.auth.existingSecret) (not $v.auth.keys) }}
{{- fail "\n\nauth.enabled needs API keys: list them in auth.keys (role read, write or admin, and a key of 16 or more characters) or name a Secret holding the keys file in auth.existingSecret." }}
{{- end }}
{{- if and $v.auth.existingSecret $v.auth.keys }}
{{- fail "\n\nauth.keys and auth.existingSecret are both set: give the API keys one way only." }}
{{- end }}
{{- if le (mul (int $v.probes.readiness.timeoutSeconds) 1000) (int $v.config.healthStoreTimeoutMs) }}
{{- fail (printf "\n\nprobes.readiness.timeoutSeconds (%d s) must be above config.healthStoreTimeoutMs (%d ms): the kubelet would give up on /health/ready before the server reports a slow store, so readiness would flap without a reason in the logs." (int $v.probes.readiness.timeoutSeconds) (int $v.config.healthStoreTimeoutMs)) }}
{{- end }}
{{- include "kv-store.validatePdb" . }}
{{- end }}

{{/*
A PodDisruptionBudget that allows no eviction blocks every node drain and cluster upgrade. The chart only
renders one for a replica floor of 2 or more, and refuses a minAvailable that leaves nothing to evict.
Kubernetes rounds a minAvailable percentage up, and so does this check.
*/}}
{{- define "kv-store.pdbMinAvailable" -}}
{{- $floor := include "kv-store.replicaFloor" . | int }}
{{- $min := .Values.podDisruptionBudget.minAvailable }}
{{- if kindIs "string" $min }}
{{- div (add (mul (trimSuffix "%" $min | int) $floor) 99) 100 }}
{{- else }}
{{- $min | int }}
{{- end }}
{{- end }}

{{- define "kv-store.validatePdb" -}}
{{- $pdb := .Values.podDisruptionBudget }}
{{- $floor := include "kv-store.replicaFloor" . | int }}
{{- if and $pdb.enabled (ge $floor 2) (not (kindIs "invalid" $pdb.minAvailable)) }}
{{- $min := include "kv-store.pdbMinAvailable" . | int }}
{{- if ge $min $floor }}
{{- fail (printf "\n\npodDisruptionBudget.minAvailable=%v keeps %d of the %d guaranteed pods up, so no pod could ever be evicted and node drains would hang. Set it below %d (or leave it null and use podDisruptionBudget.maxUnavailable)." $pdb.minAvailable $min $floor $floor) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kv-store.pdbEnabled" -}}
{{- if and .Values.podDisruptionBudget.enabled (ge (include "kv-store.replicaFloor" . | int) 2) }}true{{ end }}
{{- end }}
