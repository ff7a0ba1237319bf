{{/* The name of one driver's objects: <release>-<driver key>. */}}
{{- define "drafast.component" -}}
{{- printf "%s-%s" .root.Release.Name .key | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "drafast.labels" -}}
app.kubernetes.io/name: drafast
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .key }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "drafast.selector" -}}
app.kubernetes.io/name: drafast
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .key }}
{{- end -}}

{{- define "drafast.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Where the ops endpoint (/livez, /readyz, /metrics) listens: the metrics port, or with
     hostNetwork a Unix socket in the pod (the two pods of a rolling update share the node's
     ports). */}}
{{- define "drafast.opsDir" -}}
/run/drafast
{{- end -}}

{{- define "drafast.bindAddress" -}}
{{- if .Values.hostNetwork -}}
{{- printf "unix:%s/ops.sock" (include "drafast.opsDir" .) -}}
{{- else -}}
{{- printf ":%d" (int .Values.metricsPort) -}}
{{- end -}}
{{- end -}}

{{/* A probe of one ops endpoint (dict "root" $ "endpoint" "livez"): HTTP on the metrics port,
     or with hostNetwork `drafast probe`, which reads the socket from BIND_ADDRESS. */}}
{{- define "drafast.probe" -}}
{{- if .root.Values.hostNetwork -}}
exec:
  command: ["drafast", "probe", {{ .endpoint | quote }}]
{{- else -}}
httpGet:
  path: /{{ .endpoint }}
  port: metrics
{{- end }}
timeoutSeconds: 5
{{- end -}}
