#!/bin/sh
# Creates the DC/OS service account of etcd-warden, stores its secret and the files
# the Marathon app (etcd-warden.marathon.json) mounts, and grants exactly the
# permissions the controller needs. DC/OS Enterprise CLI (`dcos security`), run by
# a superuser against a cluster set up with `dcos cluster setup`.
#
# Usage: SERVICE=kubernetes ./service-account.sh              (the `kubernetes` 1.x package)
#        SERVICE=prod/k8s MKE=kubernetes ./service-account.sh   (`kubernetes-cluster` 2.x)
#   SERVICE  the DC/OS Kubernetes service name, folders allowed (prod/kubernetes)
#   MKE      on the 2.x line, the Mesosphere Kubernetes Engine's service name (normally
#            kubernetes): Cosmos forwards describe and update to it with our token
#   STRICT   set to 1 on a cluster in strict security mode
#   DCOS_CA_FILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY  see step 4
set -eu

SERVICE="${SERVICE:-kubernetes}"
SERVICE="${SERVICE#/}"
ACCOUNT="${ACCOUNT:-etcd-warden}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# 1. The account: an RSA key pair; DC/OS keeps the public key.
dcos security org service-accounts keypair "$WORK/private.pem" "$WORK/public.pem"
dcos security org service-accounts create -p "$WORK/public.pem" \
  -d "etcd-warden: keeps the etcd of $SERVICE alive" "$ACCOUNT"

# 2. Its secret in the secret store: {scheme, uid, private_key, login_endpoint}
#    (dcos-api.md §1.2), mounted by the app as secrets/service-account.json. The
#    controller logs in at <url>/acs/api/v1/auth/login, not at login_endpoint.
dcos security secrets create-sa-secret ${STRICT:+--strict} "$WORK/private.pem" "$ACCOUNT" etcd-warden/service-account

# 3. The permissions, each `full` (Admin Router's permissions have only that action).
#    /service/<svc>/...: pod status and info, plans, pod restart and replace
#    (dcos-api.md §1.1: dcos:adminrouter:service:<service-endpoint>).
dcos security org users grant "$ACCOUNT" "dcos:adminrouter:service:$SERVICE" full
#    /mesos/...: the master state, to tell a crashed task from a lost agent
#    (dcos-api.md §1.1: dcos:adminrouter:ops:mesos).
dcos security org users grant "$ACCOUNT" dcos:adminrouter:ops:mesos full
#    /agent/<agent>/files/read: an etcd task's stderr in its sandbox, quoted in status
#    (task.lastLog) and events (the agent's files API, through Admin Router).
dcos security org users grant "$ACCOUNT" dcos:adminrouter:ops:slave full
#    /cosmos/...: service describe (kubernetes.high_availability) and the update that
#    scales etcd up (dcos-api.md §3, §9.10). UNCONFIRMED: the reference names no
#    permission for /cosmos/; dcos:adminrouter:package is the DC/OS permissions
#    reference's name for the package API. Check it on a real cluster (a 403 on
#    describe means it is missing or insufficient).
dcos security org users grant "$ACCOUNT" dcos:adminrouter:package full
#    Cosmos forwards the caller's token to Marathon: describe reads the service's app,
#    update changes it (dcos/cosmos ServiceClient, ServiceDescribeHandler,
#    ServiceUpdateHandler; docs/dcos.md "Permissions").
dcos security org users grant "$ACCOUNT" "dcos:service:marathon:marathon:services:/$SERVICE" read
dcos security org users grant "$ACCOUNT" "dcos:service:marathon:marathon:services:/$SERVICE" update
#    /service/marathon/v2/deployments: no update is sent while Marathon deploys the
#    service (Marathon lists the deployments of the apps the account may read).
dcos security org users grant "$ACCOUNT" dcos:adminrouter:service:marathon full
#    On the 2.x line Cosmos forwards describe and update to the MKE service, through
#    Admin Router, again with our token (dcos/cosmos CustomPackageManagerRouter).
if [ -n "${MKE:-}" ]; then
  dcos security org users grant "$ACCOUNT" "dcos:adminrouter:service:${MKE#/}" full
fi

# 4. The files the app mounts (etcd-warden.marathon.json, "secrets"):
#    the DC/OS CA, as `dcos cluster setup` saved it (never fetched and trusted on the
#    fly, dcos-api.md §1.4);
dcos security secrets create -f "${DCOS_CA_FILE:?set DCOS_CA_FILE to the cluster CA bundle}" etcd-warden/dcos-ca
#    the etcd client certificate of the package, from the sandbox of an etcd task
#    (the seed's troubleshooting runbook: ca-crt.pem, etcd-crt.pem, etcd-key.pem). The
#    SDK names the task `<service>__etcd-0-peer__<uuid>`, a folder's `/` written as `.`
#    (prod/kubernetes: prod.kubernetes__etcd-0-peer; dcos-commons CommonIdUtils);
#    ETCD_TASK names another task.
TASK_SERVICE="$(printf %s "$SERVICE" | tr / .)"
for file in ca-crt.pem etcd-crt.pem etcd-key.pem; do
  dcos task exec "${ETCD_TASK:-${TASK_SERVICE}__etcd-0-peer}" cat "$file" > "$WORK/$file"
done
dcos security secrets create -f "$WORK/ca-crt.pem" etcd-warden/etcd-ca-crt
dcos security secrets create -f "$WORK/etcd-crt.pem" etcd-warden/etcd-crt
dcos security secrets create -f "$WORK/etcd-key.pem" etcd-warden/etcd-key
#    the bearer token of the controller's own API (it listens on the agent's port);
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/api-token"
dcos security secrets create -f "$WORK/api-token" etcd-warden/api-token
#    the keys of the backup destination (S3).
dcos security secrets create -v "${AWS_ACCESS_KEY_ID:?}" etcd-warden/aws-access-key-id
dcos security secrets create -v "${AWS_SECRET_ACCESS_KEY:?}" etcd-warden/aws-secret-access-key
