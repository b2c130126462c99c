{{/*
Object names are fixed, as in dist/install.yaml, whatever the release is
called: one installation serves the whole cluster (one provisioner per node,
one provisioner name), and the names are what the binary's defaults and
the README refer to.
*/}}
{{- define "hpp.name" -}}hostpath-provisioner{{- end -}}

{{/* Labels of every object. */}}
{{- define "hpp.labels" -}}
app.kubernetes.io/name: hostpath-provisioner
app.kubernetes.io/part-of: hostpath-provisioner
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select the provisioner pods. */}}
{{- define "hpp.selectorLabels" -}}
app.kubernetes.io/component: provisioner
app.kubernetes.io/name: hostpath-provisioner
{{- end -}}

{{- define "hpp.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Whether the chart makes its own self-signed CA chain. */}}
{{- define "hpp.ownIssuer" -}}
{{- if not .Values.certManager.issuerRef.name }}true{{ end -}}
{{- end -}}

{{/* The issuerRef of the serving certificates. */}}
{{- define "hpp.issuerRef" -}}
{{- if include "hpp.ownIssuer" . -}}
group: cert-manager.io
kind: Issuer
name: hostpath-provisioner-ca
{{- else -}}
group: {{ .Values.certManager.issuerRef.group | default "cert-manager.io" }}
kind: {{ .Values.certManager.issuerRef.kind | default "ClusterIssuer" }}
name: {{ .Values.certManager.issuerRef.name }}
{{- end -}}
{{- end -}}

{{/*
A StorageClass of our provisioner from one entry of storageClass or
extraStorageClasses: (dict "class" <entry> "root" $).
*/}}
{{- define "hpp.storageClass" -}}
{{- $c := .class -}}
{{- $params := dict -}}
{{- range $k, $v := ($c.parameters | default dict) }}
{{- $_ := set $params $k (toString $v) -}}
{{- end }}
{{- with $c.pathPattern }}{{ $_ := set $params "pathPattern" . }}{{ end }}
{{- with $c.onDelete }}{{ $_ := set $params "onDelete" . }}{{ end }}
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {{ $c.name }}
  labels:
    {{- include "hpp.labels" .root | nindent 4 }}
    {{- with $c.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if or $c.defaultClass $c.annotations }}
  annotations:
    {{- if $c.defaultClass }}
    storageclass.kubernetes.io/is-default-class: "true"
    {{- end }}
    {{- with $c.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
provisioner: hostpath.dev/provisioner
volumeBindingMode: {{ $c.volumeBindingMode | default "WaitForFirstConsumer" }}
reclaimPolicy: {{ $c.reclaimPolicy | default "Delete" }}
allowVolumeExpansion: {{ $c.allowVolumeExpansion | default false }}
{{- with $params }}
parameters:
  {{- range $k, $v := . }}
  {{ $k }}: {{ $v | quote }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
The --base-path-config file: .Values.basePaths as the process reads it.
*/}}
{{- define "hpp.basePathConfig" -}}
{{ dict "basePaths" .Values.basePaths | toYaml }}
{{- end }}

{{/*
Every directory of .Values.basePaths (paths and per-node paths), each once,
sorted, as a JSON array: each is mounted into every pod.
*/}}
{{- define "hpp.basePathDirs" -}}
{{- $dirs := dict }}
{{- range .Values.basePaths }}
{{- if .path }}{{ $_ := set $dirs .path true }}{{ end }}
{{- range $node, $dir := .nodes }}{{ if $dir }}{{ $_ := set $dirs $dir true }}{{ end }}{{ end }}
{{- end }}
{{- keys $dirs | sortAlpha | toJson }}
{{- end }}
