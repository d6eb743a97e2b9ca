#!/usr/bin/env bash
# Build the authsidecar image (`make image`) with podman, or docker when podman is absent.
#
#   build.sh [ENGINE BUILD OPTIONS]   e.g. --no-cache
#   IMAGE=authsidecar:dev   the tag to build
#   BASE=python:3.11-slim-bookworm   the base; where it can't be pulled (no registry access), a
#                           stand-in is bootstrapped from the Debian mirror with mmdebstrap and
#                           used instead (localhost/authsidecar-base:bookworm)
#
# The host's pip configuration (files and PIP_* variables, merged by pip_config.py) and CA bundle
# reach the pip step as build secrets, never a layer. Options naming a host path (a wheel directory,
# a file:// index, a constraint file) are left out: a build-time volume would leave its empty mount
# point in every stage, the shipped one included (seen with podman 4.3), so the build's packages
# come from the configured network indexes.
set -euo pipefail
extra=("$@")

cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-authsidecar:dev}
BASE=${BASE:-python:3.11-slim-bookworm}
STAND_IN=localhost/authsidecar-base:bookworm
CA_BUNDLE=${CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}

. deploy/image/engine.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the base ------------------------------------------------------------------------------------
if ! $ENGINE image inspect "$BASE" >/dev/null 2>&1; then
    if timeout 120 $ENGINE pull -q "$BASE" >/dev/null 2>"$work/pull.log"; then
        :
    else
        echo "build.sh: cannot pull $BASE ($(tail -n1 "$work/pull.log")); using the Debian stand-in $STAND_IN"
        if ! $ENGINE image inspect "$STAND_IN" >/dev/null 2>&1; then
            command -v mmdebstrap >/dev/null || { echo "build.sh: the stand-in needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
            # minbase + Python 3.11 (bookworm's), with `python` as the official image names it.
            mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
                --customize-hook='ln -sf /usr/bin/python3 "$1/usr/local/bin/python"' \
                bookworm "$work/base.tar" \
                "deb http://deb.debian.org/debian bookworm main" \
                "deb http://deb.debian.org/debian bookworm-updates main" \
                "deb http://deb.debian.org/debian-security bookworm-security main"
            $ENGINE import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$work/base.tar" "$STAND_IN" >/dev/null
        fi
        BASE=$STAND_IN
    fi
fi

# --- the pip configuration and CA bundle, as secrets -------------------------------------------
ca="$work/ca.crt"
if [ -f "$CA_BUNDLE" ]; then cp "$CA_BUNDLE" "$ca"; ca_secret=/run/secrets/ca.crt; else : >"$ca"; ca_secret=; fi
python3 deploy/image/pip_config.py "$work/pip.conf" --ca-secret "$ca_secret" --drop-local
set -- --secret "id=pip.conf,src=$work/pip.conf" --secret "id=ca.crt,src=$ca"

echo "build.sh: $ENGINE_NAME build -t $IMAGE (base $BASE)"
$ENGINE build $BUILD_FLAGS "$@" --build-arg "BASE=$BASE" --tag "$IMAGE" --file Dockerfile "${extra[@]}" .
$ENGINE image inspect --format '{{.Size}}' "$IMAGE" | awk -v i="$IMAGE" '{printf "build.sh: %s is %.0f MB\n", i, $1/1e6}'
