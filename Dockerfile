# authsidecar image: `sidecar serve --config /etc/authsidecar/config.yaml`. Build it with `make image`
# (deploy/image/build.sh), which passes the host's pip configuration and CA bundle as build secrets.
# Three stages: `build` installs the virtualenv with a toolchain; `rootfs` lays out the runtime (the
# base, the user, the virtualenv) and deletes what a server never runs — pip, package managers,
# shells; the final stage is that tree as one layer, so nothing deleted survives underneath.

# The official base, or the Debian stand-in build.sh bootstraps where no registry can be reached.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
# A compiler only for dependencies without a wheel on the target platform. Not version-pinned:
# Debian replaces point-release versions, so a pin breaks the build; this stage is not shipped.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python -m venv /opt/authsidecar
ENV PATH=/opt/authsidecar/bin:$PATH
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
COPY generated ./generated
COPY clients/python ./clients/python
# The pip configuration (a private index, a proxy's CA) is mounted for this step only; without
# build.sh the secrets are absent and pip uses its defaults. pip itself is not shipped.
RUN --mount=type=secret,id=pip.conf --mount=type=secret,id=ca.crt \
    PIP_CONFIG_FILE=/run/secrets/pip.conf pip install --no-cache-dir ./clients/python . \
 && pip uninstall --yes --quiet pip setuptools

FROM ${BASE} AS rootfs
# A fixed numeric uid so `runAsNonRoot` can be verified by the kubelet without a passwd lookup.
RUN groupadd --system --gid 10001 authsidecar \
 && useradd --system --uid 10001 --gid authsidecar --no-create-home --shell /usr/sbin/nologin authsidecar
COPY --from=build /opt/authsidecar /opt/authsidecar
# Nothing here installs or scripts anything at run time: no pip (the base's or ensurepip's wheels),
# no apt/dpkg programs (their status file stays, for image scanners), no perl, and no shell —
# deleted last, by the shell running this line. Python and its standard library stay.
RUN rm -rf /usr/local/bin/pip* /usr/local/lib/python3.11/site-packages/pip \
           /usr/local/lib/python3.11/site-packages/setuptools /usr/local/lib/python3.11/ensurepip \
           /usr/lib/python3.11/ensurepip /usr/share/python-wheels \
           /usr/bin/apt* /usr/bin/dpkg* /usr/lib/apt /usr/lib/dpkg /var/lib/apt /var/cache/apt /var/cache/debconf \
           /usr/bin/perl* /usr/lib/*-linux-gnu*/perl* /usr/share/perl* \
           /usr/share/doc /usr/share/man /usr/share/info /usr/share/locale \
 && rm -f /usr/bin/bash /usr/bin/rbash /usr/bin/dash /usr/bin/sh /bin/bash /bin/rbash /bin/dash /bin/sh

FROM scratch
# The whole tree on purpose: it is the image, flattened (DL3067 guards against doing it by accident).
# hadolint ignore=DL3067
COPY --from=rootfs / /
ENV PATH=/opt/authsidecar/bin:/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The root filesystem is read-only in the pod; nothing is written at run time.
USER 10001:10001
EXPOSE 9464
ENTRYPOINT ["sidecar", "serve", "--config", "/etc/authsidecar/config.yaml"]
