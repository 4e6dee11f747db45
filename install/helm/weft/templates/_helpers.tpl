{{/*
The release namespace must be weft-system: the control plane's Lease, the
proxies' default control plane address and the webhook's certificate name
it (docs/install.md).
*/}}
{{- define "weft.namespace" -}}
{{- if ne .Release.Namespace "weft-system" -}}
{{- fail (printf "the Weft chart installs into namespace weft-system, not %q: use --namespace weft-system" .Release.Namespace) -}}
{{- end -}}
{{- .Release.Namespace -}}
{{- end -}}

{{/* Labels of every object; component is the part of Weft it belongs to. */}}
{{- define "weft.labels" -}}
app.kubernetes.io/name: weft
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/part-of: weft
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selector labels: the subset that never changes across upgrades. */}}
{{- define "weft.selector" -}}
app.kubernetes.io/name: weft
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image of Weft's: images.registry/<name>:<images.tag or appVersion>. */}}
{{- define "weft.image" -}}
{{- printf "%s/%s:%s" .root.Values.images.registry .name (.root.Values.images.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
