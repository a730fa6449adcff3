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

{{/*
Labels of the `helm test` pod: its own name label, so no selector of the release picks it up, and the one
the NetworkPolicy admits it by.
*/}}
{{- define "kv-store.testSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "kv-store.name" .) | trunc 63 | trimSuffix "-" }}
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
The Redis connection mode the values choose: standalone (redis.url), sentinel (redis.sentinel.hosts) or
cluster (redis.cluster.nodes); empty when none is set. The schema already refuses two at once; this check
also holds when schema validation is skipped.
*/}}
{{- define "kv-store.redisMode" -}}
{{- $r := .Values.redis }}
{{- $modes := list }}
{{- if $r.url }}{{ $modes = append $modes "standalone" }}{{ end }}
{{- if $r.sentinel.hosts }}{{ $modes = append $modes "sentinel" }}{{ end }}
{{- if $r.cluster.nodes }}{{ $modes = append $modes "cluster" }}{{ end }}
{{- if gt (len $modes) 1 }}
{{- fail (printf "\n\nredis: %s are set together: give exactly one of redis.url (standalone), redis.sentinel.hosts (Sentinel) and redis.cluster.nodes (Cluster)." (join " and " $modes)) }}
{{- end }}
{{- first $modes | default "" }}
{{- end }}

{{/*
TCP ports the NetworkPolicy opens towards Redis: redis.url's (6379 when it names none), the sentinels' and
the Cluster seeds', and networkPolicy.egress.redisPort for the data nodes found at run time. As a JSON list.
*/}}
{{- define "kv-store.redisPorts" -}}
{{- $r := .Values.redis }}
{{- $ports := list (int .Values.networkPolicy.egress.redisPort) }}
{{- $addresses := concat $r.sentinel.hosts $r.cluster.nodes }}
{{- with $r.url }}
{{- $host := (urlParse .).host }}
{{- $addresses = append $addresses (ternary $host (printf "%s:6379" $host) (regexMatch ":[0-9]+$" $host)) }}
{{- end }}
{{- range $addresses }}
{{- $ports = append $ports (regexFind "[0-9]+$" . | int) }}
{{- end }}
{{- $ports | uniq | toJson }}
{{- end }}

{{/*
Whether the chart creates its own Secret, and what goes in it.
*/}}
{{- define "kv-store.redisPasswordFromChartSecret" -}}
{{- if and (eq .Values.store.driver "redis") .Values.redis.auth.password (not .Values.redis.auth.existingSecret) }}true{{ end }}
{{- end }}

{{- define "kv-store.redisSentinelPasswordFromChartSecret" -}}
{{- $auth := .Values.redis.sentinel.auth }}
{{- if and (eq .Values.store.driver "redis") .Values.redis.sentinel.hosts $auth.password (not $auth.existingSecret) }}true{{ end }}
{{- end }}

{{- define "kv-store.apiKeysFromChartSecret" -}}
{{- if and .Values.auth.enabled (not .Values.auth.existingSecret) }}true{{ end }}
{{- end }}

{{- define "kv-store.createSecret" -}}
{{- if or (include "kv-store.redisPasswordFromChartSecret" .) (include "kv-store.redisSentinelPasswordFromChartSecret" .) (include "kv-store.apiKeysFromChartSecret" .) }}true{{ end }}
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
{{- if not $v.image.repository }}
{{- fail "\n\nimage.repository is not set: name the kv-store image built from this repository's Dockerfile and pushed to a registry your cluster pulls from, e.g. --set image.repository=registry.example.com/platform/kv-store --set image.tag=<tag> (or image.digest=sha256:...). The project publishes no image, so there is no default." }}
{{- end }}
{{- if eq $v.store.driver "memory" }}
{{- if $v.autoscaling.enabled }}
{{- fail (printf "\n\nstore.driver=memory cannot be autoscaled: every replica the HorizontalPodAutoscaler adds would hold its own, different keyspace (the known issue of the services kv-store replaces: a read depends on which pod answers, and a pod's data is lost when it goes).\nSet store.driver=redis (with redis.url, redis.sentinel.hosts or redis.cluster.nodes) so that every replica serves one shared keyspace, or set autoscaling.enabled=false and replicaCount=1.") }}
{{- end }}
{{- if gt (int $v.replicaCount) 1 }}
{{- fail (printf "\n\nstore.driver=memory cannot run replicaCount=%d: each of the %d pods would hold its own, different keyspace (the known issue of the services kv-store replaces: a read depends on which pod answers, and a pod's data is lost when it goes).\nSet store.driver=redis (with redis.url, redis.sentinel.hosts or redis.cluster.nodes) so that every replica serves one shared keyspace, or set replicaCount=1." (int $v.replicaCount) (int $v.replicaCount)) }}
{{- end }}
{{- else }}
{{- if $v.store.memory.snapshot.enabled }}
{{- fail "\n\nstore.memory.snapshot only applies to store.driver=memory: with store.driver=redis the keyspace already lives in Redis. Set store.memory.snapshot.enabled=false." }}
{{- end }}
{{- include "kv-store.validateRedis" . }}
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
{{- if and $v.prometheusRule.enabled (not $v.prometheusRule.runbookUrl) }}
{{- fail "\n\nprometheusRule.enabled needs prometheusRule.runbookUrl: the address of this repository's docs/operations.md as your on-call people read it (e.g. https://git.example.com/platform/kv-store/-/blob/main/docs/operations.md). Every alert links to its section of the alert runbook there." }}
{{- end }}
{{- include "kv-store.validatePdb" . }}
{{- end }}

{{/*
Redis settings of store.driver=redis that the schema cannot express.
*/}}
{{- define "kv-store.validateRedis" -}}
{{- $r := .Values.redis }}
{{- $mode := include "kv-store.redisMode" . }}
{{- if not $mode }}
{{- fail "\n\nstore.driver=redis needs a Redis to connect to: set redis.url (standalone, e.g. redis://my-redis-master:6379, or rediss:// for TLS), redis.sentinel.hosts with redis.sentinel.masterName (Sentinel), or redis.cluster.nodes (Cluster)." }}
{{- end }}
{{- if regexMatch "^rediss?://[^/]*@" $r.url }}
{{- fail "\n\nredis.url carries credentials (user@ or :password@): give the address only, the user in redis.auth.username and the password in redis.auth.password or redis.auth.existingSecret. The pod gets them as REDIS_USERNAME and REDIS_PASSWORD, so a password is never put into a URL (where / or # would break it)." }}
{{- end }}
{{- if and (eq $mode "sentinel") (not $r.sentinel.masterName) }}
{{- fail "\n\nredis.sentinel.hosts needs redis.sentinel.masterName: the name of the master group the sentinels monitor (e.g. mymaster)." }}
{{- end }}
{{- if and $r.sentinel.masterName (ne $mode "sentinel") }}
{{- fail "\n\nredis.sentinel.masterName is set without redis.sentinel.hosts: list the sentinels (host:port) as well, or leave the Sentinel settings empty." }}
{{- end }}
{{- if and (or $r.sentinel.auth.password $r.sentinel.auth.existingSecret) (ne $mode "sentinel") }}
{{- fail "\n\nredis.sentinel.auth is set without redis.sentinel.hosts: the sentinels' password only applies in Sentinel mode." }}
{{- end }}
{{- if and (eq $mode "cluster") (not (kindIs "invalid" $r.db)) }}
{{- fail "\n\nredis.db cannot be used with redis.cluster.nodes: Redis Cluster has database 0 only. Leave redis.db null." }}
{{- end }}
{{- if and (eq $mode "standalone") $r.tls }}
{{- fail "\n\nredis.tls applies to Sentinel and Cluster mode: for a standalone Redis over TLS, use a rediss:// redis.url." }}
{{- end }}
{{- if and $r.auth.password $r.auth.existingSecret }}
{{- fail "\n\nredis.auth.password and redis.auth.existingSecret are both set: give the Redis password one way only." }}
{{- end }}
{{- if and $r.sentinel.auth.password $r.sentinel.auth.existingSecret }}
{{- fail "\n\nredis.sentinel.auth.password and redis.sentinel.auth.existingSecret are both set: give the sentinels' password one way only." }}
{{- end }}
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

{{/*
A Kubernetes quantity (512Mi, 1G, 1.5Gi, 268435456, 1e9) in bytes, as a whole number.
*/}}
{{- define "kv-store.bytes" -}}
{{- $quantity := toString . }}
{{- $suffix := regexFind "([KMGTPE]i|[numkMGTPE])$" $quantity }}
{{- $factors := dict "" 1.0 "n" 1e-9 "u" 1e-6 "m" 1e-3 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 }}
{{- printf "%.0f" (mulf (trimSuffix $suffix $quantity | float64) (get $factors $suffix)) }}
{{- end }}

{{/*
PromQL label matchers of this release's series: prometheusRule.selector, or the labels the ServiceMonitor's
targets get (job is the Service's name).
*/}}
{{- define "kv-store.promSelector" -}}
{{- .Values.prometheusRule.selector | default (printf "job=%q, namespace=%q" (include "kv-store.fullname" .) .Release.Namespace) }}
{{- end }}

{{/*
A PromQL condition: the counter `series` grew in the last 15 minutes, summed by `by`. increase() sees series
that were there before; the second half sees a series first scraped after its first increment (a new pod's
counter born at 1), which increase() cannot.
*/}}
{{- define "kv-store.promIncreased" -}}
sum by ({{ .by }}) (increase({{ .series }}[15m])) > 0
or
sum by ({{ .by }}) ({{ .series }} unless {{ .series }} offset 15m) > 0
{{- end }}
