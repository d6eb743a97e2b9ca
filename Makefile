# The two commands: `make run` and `make test`. Everything installs into .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PROTOS := $(shell find protos -name '*.proto')

SOAK_SECONDS ?= 600
FLOOD_CALLS  ?= 1000000
FUZZ_SECONDS ?= 60

.PHONY: run test install format proto bench soak flood fuzz clean image image-test

PACKAGES := -e './clients/python[starlette,flask]' -e '.[dev,fuzz]'

# uv (from PyPI, into the venv) installs the same versions in a fraction of pip's time (seconds, not
# minutes: no per-file byte-compiling, parallel downloads); where uv can't be had or fails, plain pip.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	if $(PY) -m pip install --quiet uv && $(VENV)/bin/uv pip install --quiet --python $(PY) $(PACKAGES); then :; \
	else $(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet $(PACKAGES); fi
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/sidecar run

# Most tests wait on the processes they start, so more workers than cores pays; the few that measure
# time or memory and cannot bear a neighbour (marker `serial`) run afterwards, alone. Both stages
# always run; the target fails if either failed.
TEST_WORKERS ?= 4
# Each of the hundreds of sidecar/emulator processes would otherwise compile sidecar/ anew (~0.1 s CPU
# each) where the environment turns bytecode caching off; __pycache__ is ignored by git.
test: export PYTHONDONTWRITEBYTECODE =
test: install
	@status=0; \
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not serial" --durations=40 || status=$$?; \
	$(PY) -m pytest -q -m serial || status=$$?; \
	exit $$status

# Sort imports and format the Python trees as tests/unit/test_static_checks.py checks them.
format: install
	$(VENV)/bin/ruff check --fix --exit-zero --quiet sidecar clients/python harness tools tests bench soak fuzz
	$(VENV)/bin/ruff format sidecar clients/python harness tools tests bench soak fuzz

proto: install
	$(PY) -m tools.protogen

bench: install
	$(PY) -m bench

# Mixed traffic with revocations, key rotations and faults; every answer checked (soak/results/*.json).
soak: install
	$(PY) -m soak --seconds $(SOAK_SECONDS)

# Distinct hostile requests: RSS, caches and upstream traffic must stay bounded (soak/results/flood-*.json).
flood: install
	$(PY) -m soak.flood --calls $(FLOOD_CALLS)

# atheris on the token path; a crash input lands in fuzz/crashes/.
fuzz: install
	mkdir -p fuzz/crashes
	work=$$(mktemp -d) && $(PY) fuzz/fuzz_tokens.py -max_total_time=$(FUZZ_SECONDS) \
		-artifact_prefix=fuzz/crashes/ $$work fuzz/corpus

# The container image (podman, else docker): deploy/image/build.sh. IMAGE names the tag.
IMAGE ?= localhost/authsidecar:dev
image:
	IMAGE=$(IMAGE) deploy/image/build.sh

# Not part of `make test` (it needs a container engine and the built image): the image run as the pod
# runs it (tests/image), then the Envoy suite with every sidecar a container of it (tests/envoy).
image-test: install
	AUTHSIDECAR_TEST_IMAGE=$(IMAGE) $(PY) -m pytest -q tests/image
	AUTHSIDECAR_TEST_IMAGE=$(IMAGE) $(PY) -m pytest -q -n 2 --dist loadgroup tests/envoy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
