# Sourced (bash) by build.sh; the image tests source it too: ENGINE (the command with its global flags),
# ENGINE_NAME, BUILD_FLAGS and RUN_FLAGS for this machine. podman first, else a docker whose daemon
# answers. AUTHSIDECAR_CONTAINER_ENGINE=docker|podman chooses.
#
# podman here: runc with cgroupfs (no systemd in the VM), and explicit ulimits: podman's default
# nofile (1048576) is over this VM's hard limit, and runc refuses (EPERM) any nproc above 32768
# here even below the hard limit; so the hard limits, capped at 65536 files and 32768 processes.
choice=${AUTHSIDECAR_CONTAINER_ENGINE:-}
if [ -z "$choice" ]; then
    if command -v podman >/dev/null; then choice=podman
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then choice=docker
    else echo "no container engine: install podman (apt-get install podman) or start docker" >&2; exit 1
    fi
fi
ENGINE_NAME=$choice
cap() { if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }
nofile=$(cap "$(ulimit -Hn)" 65536)
nproc=$(cap "$(ulimit -Hu)" 32768)
ULIMITS="--ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc"
if [ "$ENGINE_NAME" = podman ]; then
    ENGINE="podman --runtime ${PODMAN_RUNTIME:-runc} --cgroup-manager ${PODMAN_CGROUP_MANAGER:-cgroupfs}"
    BUILD_FLAGS="$ULIMITS --layers"
else
    ENGINE=docker
    BUILD_FLAGS=""
    export DOCKER_BUILDKIT=1  # RUN --mount=type=secret
fi
RUN_FLAGS=$ULIMITS
