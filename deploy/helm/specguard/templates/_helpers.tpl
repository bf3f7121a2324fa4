{{/*
Object names are fixed, as in deploy/base: one specguard per cluster, and a
kustomize install can be taken over by the chart (--take-ownership) without
renaming anything.
*/}}

{{/* The labels of every object: deploy/base's and Helm's standard ones. */}}
{{- define "specguard.labels" -}}
app.kubernetes.io/name: specguard
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/*
The pod labels and the selector: deploy/base's, because a DaemonSet's
selector cannot change after creation.
*/}}
{{- define "specguard.selectorLabels" -}}
app.kubernetes.io/name: specguard
{{- end -}}

{{/* The policy ConfigMap's name: the chart's or the user's. */}}
{{- define "specguard.policyConfigMap" -}}
{{- .Values.policy.existingConfigMap | default "specguard-policy" -}}
{{- end -}}

{{/* The policy document the chart renders from mode, failurePolicy and rules. */}}
{{- define "specguard.policy" -}}
apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  mode: {{ .Values.mode }}
  failurePolicy: {{ .Values.failurePolicy }}
  node:
    podLogsDir: {{ .Values.policy.podLogsDir }}
  metadata:
    restartCount: true
    logPath: true
    identity: true
    identityCheck: {{ .Values.mode }}
    qosClass: true
{{- with .Values.policy.rules }}
  rules:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}
