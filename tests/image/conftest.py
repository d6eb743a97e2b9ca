"""The built image (`make image`), run as the pod runs it. Collected only when AUTHSIDECAR_TEST_IMAGE
names the image — `make image-test` sets it — so `make test`, which needs no container engine, skips
this directory without a word."""

from __future__ import annotations

import os

from harness.container import IMAGE_ENV

collect_ignore_glob = [] if os.environ.get(IMAGE_ENV) else ["test_*.py"]
