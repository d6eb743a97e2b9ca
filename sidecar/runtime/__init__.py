"""The process: gRPC server, assembly of components from settings, live reload, ops port, demo."""
