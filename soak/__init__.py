"""The soak (`make soak`, `python -m soak`) and the flood (`make flood`, `python -m soak.flood`).

Both run the real emulator and a real sidecar as separate processes on loopback (harness/processes.py)
and write a JSON report to soak/results/. See __main__.py and flood.py.
"""
