# authsidecar image: `sidecar serve --config /etc/authsidecar/config.yaml`.
# Two stages: wheels are built with the toolchain in `build`; the final stage gets only the
# installed virtualenv, so no compiler, pip cache or source tree ships in the image.

FROM python:3.11-slim-bookworm AS build
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
RUN pip install --no-cache-dir ./clients/python .

FROM python:3.11-slim-bookworm AS runtime
# A fixed numeric uid so `runAsNonRoot` can be verified by the kubelet without a passwd lookup.
RUN groupadd --system --gid 10001 authsidecar \
 && useradd --system --uid 10001 --gid authsidecar --no-create-home --shell /usr/sbin/nologin authsidecar
COPY --from=build /opt/authsidecar /opt/authsidecar
ENV PATH=/opt/authsidecar/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The root filesystem is read-only in the pod; nothing is written at run time.
USER 10001:10001
EXPOSE 9464
ENTRYPOINT ["sidecar", "serve", "--config", "/etc/authsidecar/config.yaml"]
