"""Python clients of the sidecar: typed calls, the stream multiplexer, `sidecar call`."""
