"""authsidecar: a localhost gRPC auth sidecar."""

__version__ = "0.1.0"
