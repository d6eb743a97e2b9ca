# The two commands: `make run` and `make test`. Everything installs into .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PROTOS := $(shell find protos -name '*.proto')

SOAK_SECONDS ?= 600
FLOOD_CALLS  ?= 1000000
FUZZ_SECONDS ?= 60

.PHONY: run test install format proto bench soak flood fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,fuzz]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/sidecar run

test: install
	$(PY) -m pytest -q

# Sort imports and format the Python trees as tests/unit/test_static_checks.py checks them.
format: install
	$(VENV)/bin/ruff check --fix --exit-zero --quiet sidecar tests bench soak fuzz
	$(VENV)/bin/ruff format sidecar tests bench soak fuzz

proto: install
	$(PY) -m sidecar.protogen generated

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

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
