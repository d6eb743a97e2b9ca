"""One-time use: of every verification of one approval, challenge or code, at most one is valid,
in this pod and in the fleet."""
