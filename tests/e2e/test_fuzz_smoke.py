"""The token-path fuzz target (`make fuzz`) runs cleanly for a few seconds: with atheris when it is
installed (the `fuzz` extra), and always through its hypothesis fallback. Its oracles can fail: the
corpus holds regressions that crashed the claim parsing before it was fixed (see test_tokens.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "fuzz" / "fuzz_tokens.py"


@pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None, reason="atheris not installed (pip install -e '.[fuzz]')"
)
def test_atheris_runs_the_token_target_cleanly(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            "-runs=20000",
            f"-artifact_prefix={tmp_path}/",
            str(tmp_path),
            str(ROOT / "fuzz" / "corpus"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 20000 runs" in proc.stderr
    assert not list(tmp_path.glob("crash-*"))


def test_hypothesis_fallback_runs_the_token_target_cleanly():
    proc = subprocess.run(
        [sys.executable, str(TARGET), "--hypothesis", "--examples", "500"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "500 examples" in proc.stdout and "no crash" in proc.stdout


def test_the_corpus_is_what_the_target_writes(tmp_path):
    """The seed corpus verifies with the fixed keys (valid seeds valid), so the fuzzer starts deep in the path."""
    code = (
        "import sys; sys.argv.append('--hypothesis'); sys.path.insert(0, 'fuzz'); import fuzz_tokens as f; "
        "t = f.Target(); v = lambda n: t.loop.run_until_complete(t.verifier.verify("
        "f.token_of((f.CORPUS / n).read_bytes()), None, [])).verdict.valid; "
        "print(v('valid-es256.token'), v('valid-eddsa.token'), v('tampered-payload.token'), v('alg-none.token'))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["True", "True", "False", "False"], proc.stderr
