#!/bin/sh
# Replays the hits left on the retained claim of consent-gateway-N, a pod the autoscaler removed while
# ClickHouse was down: starts drain-pod.yaml on that claim, with the Secret and image the StatefulSet
# runs with, in the namespace of kubectl's current context (docs/deploy.md, "Hits left on a removed
# pod's claim").
#
#   sh deploy/kubernetes/runbook/drain-claim.sh 3
#   kubectl logs -f consent-gateway-drain        # "spool: replaying N row(s)", or no such line
#   kubectl delete pod consent-gateway-drain     # once every replayed row is in
set -eu

number="${1:-}"
case "$number" in
    "" | *[!0-9]*)
        echo "usage: drain-claim.sh N   (N: the number of the removed pod consent-gateway-N)" >&2
        exit 2
        ;;
esac
kubectl get pvc "data-consent-gateway-$number" >/dev/null  # its own error names what is missing
if kubectl get pod "consent-gateway-$number" >/dev/null 2>&1; then
    # Its own gateway replays the claim; a second one on it would only wait for the volume.
    echo "drain-claim: consent-gateway-$number runs: it replays its own spool" >&2
    exit 1
fi
template='jsonpath={.spec.template.spec'
secret="$(kubectl get statefulset consent-gateway -o "$template.volumes[?(@.name==\"secrets\")].secret.secretName}")"
image="$(kubectl get statefulset consent-gateway -o "$template.containers[?(@.name==\"gateway\")].image}")"
if [ -z "$secret" ] || [ -z "$image" ]; then
    echo "drain-claim: the StatefulSet consent-gateway was not found, or is not deploy/kubernetes/'s" >&2
    exit 1
fi
sed -e "s|claimName: data-consent-gateway-[0-9]*\$|claimName: data-consent-gateway-$number|" \
    -e "s|secretName: consent-gateway\$|secretName: $secret|" \
    -e "s|image: consent-gateway\$|image: $image|" \
    "$(dirname "$0")/drain-pod.yaml" | kubectl apply -f -
