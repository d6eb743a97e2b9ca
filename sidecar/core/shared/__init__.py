"""The kernel every domain uses: outcomes and answers, caches, circuit breaker, hashing, text, phones."""
