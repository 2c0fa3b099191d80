{{- /* Pod securityContext of an Airflow component (list $ .Values.<component>): the component's
       securityContexts.pod, else its securityContext, else the global securityContexts.pod, else the
       global securityContext, else runAsUser uid and fsGroup gid. Not merged: the first one set wins. */ -}}
{{- define "contract.podSecurityContext" -}}
{{- $ := index . 0 -}}
{{- $local := index . 1 -}}
{{- if $local.securityContexts.pod -}}
{{ toYaml $local.securityContexts.pod }}
{{- else if $local.securityContext -}}
{{ toYaml $local.securityContext }}
{{- else if $.Values.securityContexts.pod -}}
{{ toYaml $.Values.securityContexts.pod }}
{{- else if $.Values.securityContext -}}
{{ toYaml $.Values.securityContext }}
{{- else -}}
runAsUser: {{ $.Values.uid }}
fsGroup: {{ $.Values.gid }}
{{- end -}}
{{- end -}}

{{- /* Pod securityContext of statsd: its own securityContexts.pod, else its securityContext, else its uid. */ -}}
{{- define "contract.localPodSecurityContext" -}}
{{- if .securityContexts.pod -}}
{{ toYaml .securityContexts.pod }}
{{- else if .securityContext -}}
{{ toYaml .securityContext }}
{{- else -}}
runAsUser: {{ .uid }}
{{- end -}}
{{- end -}}

{{- /* Container securityContext of an Airflow container (list $ <local values>): the local
       securityContexts.container, else the global securityContexts.containers, else no privilege
       escalation and all capabilities dropped. */ -}}
{{- define "contract.containerSecurityContext" -}}
{{- $ := index . 0 -}}
{{- $local := index . 1 -}}
{{- if $local.securityContexts.container -}}
{{ toYaml $local.securityContexts.container }}
{{- else if $.Values.securityContexts.containers -}}
{{ toYaml $.Values.securityContexts.containers }}
{{- else -}}
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
{{- end -}}
{{- end -}}

{{- /* statsd's container: its securityContexts.container, else no privilege escalation, no capabilities. */ -}}
{{- define "contract.externalContainerSecurityContext" -}}
{{- if .securityContexts.container -}}
{{ toYaml .securityContexts.container }}
{{- else -}}
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
{{- end -}}
{{- end -}}

{{- /* git-sync's container: dags.gitSync.securityContexts.container, else dags.gitSync.securityContext,
       else runAsUser dags.gitSync.uid (nothing else: privilege escalation and capabilities stay). */ -}}
{{- define "contract.localContainerSecurityContext" -}}
{{- if .securityContexts.container -}}
{{ toYaml .securityContexts.container }}
{{- else if .securityContext -}}
{{ toYaml .securityContext }}
{{- else -}}
runAsUser: {{ .uid }}
{{- end -}}
{{- end -}}

{{- define "contract.airflowImage" -}}
{{ .Values.images.airflow.repository | default .Values.defaultAirflowRepository }}:{{ .Values.images.airflow.tag | default .Values.defaultAirflowTag }}
{{- end -}}

{{- define "contract.podTemplateImage" -}}
{{ .Values.images.pod_template.repository | default .Values.defaultAirflowRepository }}:{{ .Values.images.pod_template.tag | default .Values.defaultAirflowTag }}
{{- end -}}

{{- define "contract.kubernetesExecutor" -}}
{{- if contains "KubernetesExecutor" .Values.executor }}true{{ end -}}
{{- end -}}

{{- /* The environment of every Airflow container: the chart's secrets, then env (each also as
       AIRFLOW__KUBERNETES_ENVIRONMENT_VARIABLES__<name> with the KubernetesExecutor), then secret
       (secretKeyRef; AIRFLOW__KUBERNETES_SECRETS__<name> with the KubernetesExecutor), then extraEnv. */ -}}
{{- define "contract.env" -}}
- name: AIRFLOW__CORE__FERNET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.fernetKeySecretName | default (printf "%s-fernet-key" .Release.Name) }}
      key: fernet-key
- name: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.data.metadataSecretName | default (printf "%s-airflow-metadata" .Release.Name) }}
      key: connection
- name: AIRFLOW_CONN_AIRFLOW_DB
  valueFrom:
    secretKeyRef:
      name: {{ .Values.data.metadataSecretName | default (printf "%s-airflow-metadata" .Release.Name) }}
      key: connection
- name: AIRFLOW__API__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.apiSecretKeySecretName | default (printf "%s-api-secret-key" .Release.Name) }}
      key: api-secret-key
- name: AIRFLOW__API_AUTH__JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.jwtSecretName | default (printf "%s-jwt-secret" .Release.Name) }}
      key: jwt-secret
{{- range .Values.env }}
- name: {{ .name }}
  value: {{ .value | quote }}
{{- if include "contract.kubernetesExecutor" $ }}
- name: AIRFLOW__KUBERNETES_ENVIRONMENT_VARIABLES__{{ .name }}
  value: {{ .value | quote }}
{{- end }}
{{- end }}
{{- range .Values.secret }}
- name: {{ .envName }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .secretKey | default "value" }}
{{- end }}
{{- if include "contract.kubernetesExecutor" . }}
{{- range .Values.secret }}
- name: AIRFLOW__KUBERNETES_SECRETS__{{ .envName }}
  value: {{ printf "%s=%s" .secretName .secretKey }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ tpl . $ }}
{{- end }}
{{- end -}}

{{- /* The git-sync container (dict "root" $ "init" bool): the v3 and v4 variables side by side, as the
       chart writes them whatever the image's version; GIT_SYNC_BRANCH and GIT_SYNC_REV always. */ -}}
{{- define "contract.gitSyncContainer" -}}
{{- $ := .root -}}
{{- $g := $.Values.dags.gitSync -}}
- name: {{ $g.containerName }}{{ if .init }}-init{{ end }}
  image: {{ $.Values.images.gitSync.repository }}:{{ $.Values.images.gitSync.tag }}
  imagePullPolicy: {{ $.Values.images.gitSync.pullPolicy }}
  securityContext: {{- include "contract.localContainerSecurityContext" $g | nindent 4 }}
  env:
    - name: GIT_SYNC_REV
      value: {{ $g.rev | quote }}
    - name: GITSYNC_REF
      value: {{ $g.ref | quote }}
    - name: GIT_SYNC_BRANCH
      value: {{ $g.branch | quote }}
    - name: GIT_SYNC_REPO
      value: {{ $g.repo | quote }}
    - name: GITSYNC_REPO
      value: {{ $g.repo | quote }}
    - name: GIT_SYNC_DEPTH
      value: {{ $g.depth | quote }}
    - name: GITSYNC_DEPTH
      value: {{ $g.depth | quote }}
    - name: GIT_SYNC_ROOT
      value: "/git"
    - name: GITSYNC_ROOT
      value: "/git"
    - name: GIT_SYNC_DEST
      value: "repo"
    - name: GITSYNC_LINK
      value: "repo"
    - name: GIT_SYNC_ADD_USER
      value: "true"
    - name: GITSYNC_ADD_USER
      value: "true"
    {{- if $g.wait }}
    - name: GIT_SYNC_WAIT
      value: {{ $g.wait | quote }}
    {{- end }}
    - name: GITSYNC_PERIOD
      value: {{ $g.period | quote }}
    - name: GIT_SYNC_MAX_SYNC_FAILURES
      value: {{ $g.maxFailures | quote }}
    - name: GITSYNC_MAX_FAILURES
      value: {{ $g.maxFailures | quote }}
    {{- if .init }}
    - name: GIT_SYNC_ONE_TIME
      value: "true"
    - name: GITSYNC_ONE_TIME
      value: "true"
    {{- end }}
    {{- with $g.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  volumeMounts:
    - name: dags
      mountPath: /git
{{- end -}}

{{- define "contract.gitSyncEnabled" -}}
{{- if and .Values.dags.gitSync.enabled (not .Values.dags.persistence.enabled) }}true{{ end -}}
{{- end -}}

{{- /* The mounts of every Airflow container: logs, airflow.cfg, the DAGs (git-sync), the global and the
       component's extra mounts. */ -}}
{{- define "contract.mounts" -}}
{{- $ := index . 0 -}}
{{- $local := index . 1 -}}
- name: logs
  mountPath: {{ $.Values.airflowHome }}/logs
- name: config
  mountPath: {{ $.Values.airflowHome }}/airflow.cfg
  subPath: airflow.cfg
  readOnly: true
{{- if include "contract.gitSyncEnabled" $ }}
- name: dags
  mountPath: {{ $.Values.airflowHome }}/dags
  readOnly: true
{{- end }}
{{- with $.Values.volumeMounts }}
{{ toYaml . }}
{{- end }}
{{- with $local.extraVolumeMounts }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end -}}

{{- /* The volumes of a pod: airflow.cfg, the logs (the claim with logs.persistence, else an emptyDir),
       the DAGs' emptyDir (git-sync), the global and the component's extra volumes. */ -}}
{{- define "contract.volumes" -}}
{{- $ := index . 0 -}}
{{- $local := index . 1 -}}
- name: config
  configMap:
    name: {{ $.Release.Name }}-config
{{- if $.Values.logs.persistence.enabled }}
- name: logs
  persistentVolumeClaim:
    claimName: {{ $.Values.logs.persistence.existingClaim | default (printf "%s-logs" $.Release.Name) }}
{{- else }}
- name: logs
  emptyDir: {}
{{- end }}
{{- if include "contract.gitSyncEnabled" $ }}
- name: dags
  emptyDir: {}
{{- end }}
{{- with $.Values.volumes }}
{{ toYaml . }}
{{- end }}
{{- with $local.extraVolumes }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end -}}

{{- define "contract.waitForMigrations" -}}
{{- $ := index . 0 -}}
{{- $local := index . 1 -}}
- name: wait-for-airflow-migrations
  image: {{ include "contract.airflowImage" $ }}
  imagePullPolicy: {{ $.Values.images.airflow.pullPolicy }}
  securityContext: {{- include "contract.containerSecurityContext" (list $ $local.waitForMigrations) | nindent 4 }}
  args: ["airflow", "db", "check-migrations", "--migration-wait-timeout=60"]
  env: {{- include "contract.env" $ | nindent 4 }}
  volumeMounts: {{- include "contract.mounts" (list $ $local) | nindent 4 }}
{{- end -}}

{{- define "contract.logGroomer" -}}
{{- $ := index . 0 -}}
{{- $local := index . 1 -}}
- name: {{ index . 2 }}-log-groomer
  image: {{ include "contract.airflowImage" $ }}
  imagePullPolicy: {{ $.Values.images.airflow.pullPolicy }}
  securityContext: {{- include "contract.containerSecurityContext" (list $ $local.logGroomerSidecar) | nindent 4 }}
  args: {{- toYaml $local.logGroomerSidecar.args | nindent 4 }}
  volumeMounts:
    - name: logs
      mountPath: {{ $.Values.airflowHome }}/logs
{{- end -}}
