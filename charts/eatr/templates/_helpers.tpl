{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "eatr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: fullnameOverride, or "<release>-<chart>" unless the release name already holds it. */}}
{{- define "eatr.fullname" -}}
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

{{- define "eatr.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object. Deliberately not app.kubernetes.io/managed-by=eatr: that label marks the pull
secrets eatr owns (Helm's own managed-by=Helm is used instead).
*/}}
{{- define "eatr.labels" -}}
helm.sh/chart: {{ include "eatr.chart" . }}
{{ include "eatr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: eatr
{{- end }}

{{- define "eatr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "eatr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "eatr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "eatr.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespace holding the AWS credential secrets: hostNamespace, or the release namespace. */}}
{{- define "eatr.hostNamespace" -}}
{{- default .Release.Namespace .Values.hostNamespace }}
{{- end }}

{{- define "eatr.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Seconds in a Go duration such as "1m30s" or "500ms" (the schema has checked its form). */}}
{{- define "eatr.durationSeconds" -}}
{{- $units := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- $total := 0.0 }}
{{- range $part := regexFindAll "[0-9]*\\.?[0-9]+(ns|us|µs|ms|s|m|h)" (toString .) -1 }}
{{- $number := regexFind "^[0-9]*\\.?[0-9]+" $part | float64 }}
{{- $unit := regexReplaceAll "^[0-9]*\\.?[0-9]+" $part "" }}
{{- $total = addf $total (mulf $number (get $units $unit)) }}
{{- end }}
{{- $total }}
{{- end }}

{{/* Checks across values that values.schema.json cannot express; fails with a message naming them. */}}
{{- define "eatr.validate" -}}
{{- $v := .Values }}
{{- if and (gt (int $v.replicaCount) 1) (not $v.leaderElection.enabled) }}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: every replica would write the same pull secrets. Enable leader election or set replicaCount to 1." (int $v.replicaCount)) }}
{{- end }}
{{- $shutdown := include "eatr.durationSeconds" $v.shutdownGracePeriod | float64 }}
{{- if le (float64 $v.terminationGracePeriodSeconds) $shutdown }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be greater than shutdownGracePeriod (%s): Kubernetes would kill eatr before in-flight work finishes." $v.terminationGracePeriodSeconds $v.shutdownGracePeriod) }}
{{- end }}
{{- if $v.leaderElection.enabled }}
{{- $lease := include "eatr.durationSeconds" $v.leaderElection.leaseDuration | float64 }}
{{- $renew := include "eatr.durationSeconds" $v.leaderElection.renewDeadline | float64 }}
{{- $retry := include "eatr.durationSeconds" $v.leaderElection.retryPeriod | float64 }}
{{- if not (gt $lease $renew) }}
{{- fail (printf "leaderElection.leaseDuration (%s) must be longer than leaderElection.renewDeadline (%s)." $v.leaderElection.leaseDuration $v.leaderElection.renewDeadline) }}
{{- end }}
{{- if not (gt $renew (mulf 1.2 $retry)) }}
{{- fail (printf "leaderElection.renewDeadline (%s) must be longer than 1.2 × leaderElection.retryPeriod (%s)." $v.leaderElection.renewDeadline $v.leaderElection.retryPeriod) }}
{{- end }}
{{- end }}
{{- if and (not $v.serviceAccount.create) (not $v.serviceAccount.name) }}
{{- fail "serviceAccount.create is false: set serviceAccount.name to the existing ServiceAccount eatr should run as." }}
{{- end }}
{{- if and (not $v.serviceAccountPullSecrets.enabled) $v.serviceAccountPullSecrets.default }}
{{- fail (printf "serviceAccountPullSecrets.default is %q but serviceAccountPullSecrets.enabled is false: set enabled to true (it grants the RBAC on serviceaccounts eatr then needs)." $v.serviceAccountPullSecrets.default) }}
{{- end }}
{{- $seen := dict }}
{{- range $i, $c := $v.credentials }}
{{- if hasKey $seen $c.registry }}
{{- fail (printf "credentials[%d]: registry %s is listed twice (one credential secret per registry)." $i $c.registry) }}
{{- end }}
{{- $_ := set $seen $c.registry true }}
{{- end }}
{{- if eq (include "eatr.secretAccess" .) "named" }}
{{- $declared := dict }}
{{- range $v.registries }}{{ $_ := set $declared .host true }}{{ end }}
{{- range $i, $c := $v.credentials }}
{{- if not (hasKey $declared $c.registry) }}
{{- fail (printf "credentials[%d]: registry %s is not in registries: with rbac.secretAccess named eatr reads only the credential secrets of declared registries. Add it to registries or remove this entry." $i $c.registry) }}
{{- end }}
{{- end }}
{{- if eq (toString (get $v.configFile.settings "restrictToDeclaredRegistries")) "false" }}
{{- fail "configFile.settings.restrictToDeclaredRegistries is false but rbac.secretAccess is named: eatr could then watch secrets the RBAC does not grant. Remove the setting (named turns it on) or set rbac.secretAccess to cluster." }}
{{- end }}
{{- end }}
{{- if $v.serviceMonitor.enabled }}
{{- if gt (include "eatr.durationSeconds" $v.serviceMonitor.scrapeTimeout | float64) (include "eatr.durationSeconds" $v.serviceMonitor.interval | float64) }}
{{- fail (printf "serviceMonitor.scrapeTimeout (%s) must not be longer than serviceMonitor.interval (%s)." $v.serviceMonitor.scrapeTimeout $v.serviceMonitor.interval) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Which Secrets eatr may read (rbac.secretAccess): "named" or "cluster". "" means named when registries
lists hosts, cluster otherwise. named with no registries fails: there would be nothing to name.
*/}}
{{- define "eatr.secretAccess" -}}
{{- $access := .Values.rbac.secretAccess | default "" }}
{{- if eq $access "" }}
{{- if .Values.registries }}named{{ else }}cluster{{ end }}
{{- else if and (eq $access "named") (not .Values.registries) }}
{{- fail "rbac.secretAccess is named but registries is empty: named RBAC lists the Secrets of the declared registries by name. List your registries (registries: [{host: …, source: …}]) or set rbac.secretAccess to cluster." }}
{{- else }}
{{- $access }}
{{- end }}
{{- end }}

{{/* The declared registry hosts, as a JSON list (for resourceNames). */}}
{{- define "eatr.declaredHosts" -}}
{{- $hosts := list }}
{{- range .Values.registries }}{{ $hosts = append $hosts .host }}{{ end }}
{{- toJson $hosts }}
{{- end }}

{{/* The credential secrets of the declared hosts ("<prefix>-<host>"), as a JSON list. */}}
{{- define "eatr.declaredCredentialSecrets" -}}
{{- $names := list }}
{{- range .Values.registries }}{{ $names = append $names (printf "%s-%s" $.Values.awsCredentialsSecretPrefix .host) }}{{ end }}
{{- toJson $names }}
{{- end }}

{{/* Whether eatr gets a mounted config file: asked for, or needed for the registries list. */}}
{{- define "eatr.configFileEnabled" -}}
{{- if or .Values.configFile.enabled .Values.registries }}true{{ end }}
{{- end }}

{{/* Directory of the projected ServiceAccount token (webIdentity.enabled). */}}
{{- define "eatr.webIdentityTokenDir" -}}
/var/run/secrets/eatr/aws
{{- end }}

{{/* Path of the mounted config file (configFile.enabled). */}}
{{- define "eatr.configFilePath" -}}
/etc/eatr/config.yaml
{{- end }}

{{/* The container's environment: every eatr setting the chart controls, then `config`, then extraEnv. */}}
{{- define "eatr.env" -}}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: EATR_HOST_NAMESPACE
  value: {{ include "eatr.hostNamespace" . | quote }}
- name: EATR_AWS_CREDENTIALS_SECRET_PREFIX
  value: {{ .Values.awsCredentialsSecretPrefix | quote }}
- name: EATR_PORT
  value: {{ .Values.metrics.port | toString | quote }}
- name: EATR_SHUTDOWN_GRACE_PERIOD
  value: {{ .Values.shutdownGracePeriod | quote }}
- name: EATR_LEADER_ELECT
  value: {{ .Values.leaderElection.enabled | toString | quote }}
{{- if .Values.leaderElection.enabled }}
- name: EATR_LEADER_ELECTION_ID
  value: {{ .Values.leaderElection.id | quote }}
- name: EATR_LEADER_ELECTION_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: EATR_LEADER_ELECTION_LEASE_DURATION
  value: {{ .Values.leaderElection.leaseDuration | quote }}
- name: EATR_LEADER_ELECTION_RENEW_DEADLINE
  value: {{ .Values.leaderElection.renewDeadline | quote }}
- name: EATR_LEADER_ELECTION_RETRY_PERIOD
  value: {{ .Values.leaderElection.retryPeriod | quote }}
{{- end }}
{{- range $key := keys .Values.config | sortAlpha }}
{{- $value := get $.Values.config $key }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ printf "EATR_%s" ($key | snakecase | upper) }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- if .Values.serviceAccountPullSecrets.enabled }}
- name: EATR_MANAGE_SERVICE_ACCOUNTS
  value: "true"
- name: EATR_SERVICE_ACCOUNTS
  value: {{ .Values.serviceAccountPullSecrets.default | quote }}
{{- end }}
{{- if include "eatr.configFileEnabled" . }}
- name: EATR_CONFIG_FILE
  value: {{ include "eatr.configFilePath" . | quote }}
{{- end }}
{{- if .Values.webIdentity.enabled }}
- name: EATR_WEB_IDENTITY_TOKEN_FILE
  value: {{ printf "%s/token" (include "eatr.webIdentityTokenDir" .) | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Checksum of everything that configures eatr, as a pod template annotation: a change to the mounted
config file (which Kubernetes would not roll by itself) or to any setting rolls the Deployment.
*/}}
{{- define "eatr.configChecksum" -}}
{{- $inputs := list (include (print .Template.BasePath "/configmap.yaml") .) (include "eatr.env" .) (toJson .Values.extraArgs) }}
{{- join "\n---\n" $inputs | sha256sum }}
{{- end }}
