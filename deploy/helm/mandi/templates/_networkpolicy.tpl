{{/*
One component's NetworkPolicy; call with (dict "ctx" $ "name" "gateway" "c" $merged).
Ingress: the gateway's HTTP port from anywhere (the only door from outside), every port from the
release's own pods, the metrics port from the monitoring namespace. Egress: DNS, the release's
own pods (gRPC, kitesim, in-chart Redis), PostgreSQL, external Redis, Kite and Telegram (HTTPS),
and the OTLP collector when tracing is on.
*/}}
{{- define "mandi.networkPolicy" -}}
{{- $root := .ctx -}}
{{- $c := .c -}}
{{- $np := $root.Values.networkPolicy -}}
{{- $release := dict "app.kubernetes.io/instance" $root.Release.Name "app.kubernetes.io/part-of" "mandi" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "mandi.fullname" $root }}-{{ .name }}
  labels:
    {{- include "mandi.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  podSelector:
    matchLabels:
      {{- include "mandi.selector" (dict "ctx" $root "name" .name) | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- if $c.exposed }}
    - ports:
        - {port: http, protocol: TCP}
    {{- end }}
    - from:
        - podSelector:
            matchLabels:
              {{- toYaml $release | nindent 14 }}
    {{- if $c.metricsPort }}
    - from:
        - namespaceSelector:
            {{- toYaml $np.metricsNamespaceSelector | nindent 12 }}
      ports:
        - {port: metrics, protocol: TCP}
    {{- end }}
  egress:
    - to:
        - namespaceSelector: {}
          podSelector:
            matchLabels: {k8s-app: kube-dns}
      ports:
        - {port: 53, protocol: UDP}
        - {port: 53, protocol: TCP}
    - to:
        - podSelector:
            matchLabels:
              {{- toYaml $release | nindent 14 }}
    {{- if eq $root.Values.database.mode "cnpg" }}
    - to:
        - podSelector:
            matchLabels: {cnpg.io/cluster: {{ include "mandi.pgCluster" $root }}}
      ports:
        - {port: 5432, protocol: TCP}
    {{- else }}
    - ports:
        - {port: {{ $root.Values.database.externalPort }}, protocol: TCP}
    {{- end }}
    {{- if eq $root.Values.redis.mode "external" }}
    - ports:
        - {port: {{ $root.Values.redis.externalPort }}, protocol: TCP}
    {{- end }}
    - to:
        - ipBlock: {cidr: {{ $np.externalEgressCIDR }}}
      ports:
        {{- range $np.externalEgressPorts }}
        - {port: {{ . }}, protocol: TCP}
        {{- end }}
    {{- if $root.Values.tracing.enabled }}
    - ports:
        - {port: {{ $root.Values.tracing.collectorPort }}, protocol: TCP}
    {{- end }}
{{- end -}}
