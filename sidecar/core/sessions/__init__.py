"""Sessions: RAuth reverse-authentication sessions, their revocation, and the rate bound on lookups
of unknown tokens."""
