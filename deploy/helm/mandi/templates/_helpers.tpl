{{/* Names, labels and the shared pieces of every Mandi pod. */}}

{{- define "mandi.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mandi.baseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/part-of: mandi
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mandi.labels" -}}
{{ include "mandi.baseLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Every label of one component's objects; call with (dict "ctx" $ "name" "gateway"). */}}
{{- define "mandi.componentLabels" -}}
{{ include "mandi.baseLabels" .ctx }}
{{ include "mandi.selector" . }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "ctx" $ "name" "gateway"). */}}
{{- define "mandi.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{- define "mandi.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "mandi.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- printf "%s-generated" (include "mandi.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "mandi.pgCluster" -}}
{{- printf "%s-pg" (include "mandi.fullname" .) -}}
{{- end -}}

{{/* Env entries every Mandi process gets beside envFrom: the in-chart database's DSN. */}}
{{- define "mandi.dbEnv" -}}
{{- if eq .Values.database.mode "cnpg" -}}
- name: MANDI_PG_DSN
  valueFrom:
    secretKeyRef:
      name: {{ include "mandi.pgCluster" . }}-app
      key: uri
{{- end -}}
{{- end -}}

{{- define "mandi.envFrom" -}}
- configMapRef:
    name: {{ include "mandi.fullname" . }}-config
- secretRef:
    name: {{ include "mandi.secretName" . }}
{{- end -}}

{{/* The migration Job runs before the release exists only when nothing it needs is in it. */}}
{{- define "mandi.migrationHook" -}}
{{- if and (eq .Values.database.mode "external") .Values.secrets.existingSecret -}}
pre-install,pre-upgrade
{{- else -}}
post-install,pre-upgrade
{{- end -}}
{{- end -}}
