#!/usr/bin/env bash
# Makes the sidecar's TLS certificate (self-signed, for the Service's DNS
# names) and the SnapshotMetadataService object carrying it as caCert, in
# overlay/. Run once; rerun to rotate, then re-apply the overlay.
set -euo pipefail
cd "$(dirname "$0")/overlay"
service=ditto-snapshot-metadata.ditto.svc
openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=${service}" \
  -addext "subjectAltName=DNS:${service},DNS:${service}.cluster.local" \
  -keyout tls.key -out tls.crt 2>/dev/null
chmod 600 tls.key
cat > snapshotmetadataservice.yaml <<YAML
# Named after the CSI driver: backup tools find the service by the driver of
# their VolumeSnapshots. audience: the token audience the sidecar checks.
apiVersion: cbt.storage.k8s.io/v1beta1
kind: SnapshotMetadataService
metadata:
  name: ditto.csi.dev
spec:
  address: ${service}:6443
  audience: ditto.csi.dev
  caCert: $(base64 -w0 tls.crt)
YAML
echo "wrote $(pwd)/tls.crt, tls.key and snapshotmetadataservice.yaml"
