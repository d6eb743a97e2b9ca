"""The ext_authz checks, one per credential kind, and the registry that names them."""
