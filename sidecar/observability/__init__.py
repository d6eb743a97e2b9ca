"""What the sidecar tells its operators: metrics, logs, traces, the decision log."""
