"""Real processes on loopback for tests, benchmarks and soak runs (not shipped with the sidecar)."""
