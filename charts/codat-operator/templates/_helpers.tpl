{{/*
Object names follow config/default (namePrefix codat-operator-): installed as release
"codat-operator", the chart names every object as `make deploy` does.
*/}}

{{/* The chart's name. */}}
{{- define "codat-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: the release name, with the chart's name unless it already holds it. */}}
{{- define "codat-operator.fullname" -}}
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

{{- define "codat-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "codat-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "codat-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "codat-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Annotations every object carries; use inside an annotations: block. */}}
{{- define "codat-operator.annotations" -}}
{{- with .Values.commonAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "codat-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "codat-operator.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: by digest when one is given, else by tag; never latest. */}}
{{- define "codat-operator.image" -}}
{{- $repo := required "image.repository is required" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- if not (hasPrefix "sha256:" .Values.image.digest) }}
{{- fail (printf "image.digest %q is not a sha256: digest" .Values.image.digest) }}
{{- end }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if eq $tag "latest" }}
{{- fail "image.tag latest is not allowed: pin a version (or image.digest)" }}
{{- end }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{- define "codat-operator.metricsServiceName" -}}
{{- printf "%s-controller-manager-metrics-service" (include "codat-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Secret with the metrics server's certificate, or nothing. */}}
{{- define "codat-operator.metricsTLSSecret" -}}
{{- if .Values.metrics.tls.certManager.enabled }}
{{- printf "%s-metrics-tls" (include "codat-operator.fullname" .) }}
{{- else if .Values.metrics.tls.secretName }}
{{- .Values.metrics.tls.secretName }}
{{- end }}
{{- end }}

{{/* The Service in front of the webhook receiver; config/webhook-receiver names it <prefix>webhooks. */}}
{{- define "codat-operator.webhookServiceName" -}}
{{- printf "%s-webhooks" (include "codat-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
