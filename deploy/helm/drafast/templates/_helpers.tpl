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
