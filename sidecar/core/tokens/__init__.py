"""Tokens: is this JWT valid, for which issuer, signed by which of its keys (the JWKS cache)."""
