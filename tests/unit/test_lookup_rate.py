"""LookupRate: a token bucket spent after the fact, so its bound holds over any window."""

from __future__ import annotations

import pytest

from sidecar.core.sessions.lookup_rate import LookupRate


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def spend_all(b: LookupRate, most: int = 1000) -> int:
    """Spend while allowed; a rate that never runs out fails here instead of hanging the suite."""
    for spent in range(most):
        if not b.allows():
            return spent
        b.spend()
    raise AssertionError(f"the rate still allows after {most} lookups")


def test_burst_then_rate_then_refill_capped_at_burst():
    clock = Clock()
    b = LookupRate(rate=2.0, burst=3, clock=clock)
    assert spend_all(b) == 3
    clock.t = 1.0
    assert b.allows()
    b.spend()
    b.spend()
    assert not b.allows()
    clock.t = 100.0  # a long quiet spell refills only up to the burst
    assert spend_all(b) == 3


def test_in_flight_overshoot_is_paid_back_but_debt_is_capped():
    clock = Clock()
    b = LookupRate(rate=1.0, burst=2, clock=clock)
    for _ in range(10):  # ten lookups that were already in flight all come back NOT_FOUND
        b.spend()
    assert not b.allows()
    clock.t = 2.9  # debt capped at -burst: 2 + 1 seconds to get one token back
    assert not b.allows()
    clock.t = 3.0
    assert b.allows()


@pytest.mark.parametrize("rate, burst", [(0, 1), (-1, 1), (1, 0)])
def test_refuses_a_rate_that_allows_nothing(rate, burst):
    with pytest.raises(ValueError):
        LookupRate(rate, burst)
