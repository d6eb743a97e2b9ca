"""Development tooling run from the checkout (not shipped with the sidecar)."""
