"""core.tokens.jws.check_ecdsa_shape on its own: defence in depth before the signature check (RFC 7518 §3.4).

verify_signature calls it first, so a regression in it would be hidden by cryptography refusing
most such signatures anyway; these tests pin its own answers and their details.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sidecar.core.shared.outcomes import Reason
from sidecar.core.tokens.jws import EC_CURVES, Rejected, check_ecdsa_shape

CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
HASHES = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}


def _raw(alg: str, r: int, s: int) -> bytes:
    size = EC_CURVES[alg][1]
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _der(alg: str) -> bytes:
    return ec.generate_private_key(CURVES[alg]).sign(b"header.payload", ec.ECDSA(HASHES[alg]))


def _refused(alg: str, signature: bytes) -> Rejected:
    with pytest.raises(Rejected) as refused:
        check_ecdsa_shape(alg, signature)
    assert refused.value.reason is Reason.BAD_SIGNATURE
    return refused.value


@pytest.mark.parametrize("alg", sorted(EC_CURVES))
def test_a_raw_signature_of_the_curve_size_passes(alg):
    r, s = decode_dss_signature(_der(alg))
    check_ecdsa_shape(alg, _raw(alg, r, s))  # no exception
    n, _ = EC_CURVES[alg]
    check_ecdsa_shape(alg, _raw(alg, 1, n - 1))  # the edges of 0 < r, s < n


@pytest.mark.parametrize("alg", sorted(EC_CURVES))
def test_der_encoding_is_refused_by_its_length(alg):
    size = EC_CURVES[alg][1]
    assert _refused(alg, _der(alg)).detail == f"{alg} signature must be {2 * size} raw bytes (r||s)"


@pytest.mark.parametrize("alg", sorted(EC_CURVES))
@pytest.mark.parametrize("short", [0, 1, -1])
def test_short_and_long_signatures_are_refused(alg, short):
    size = EC_CURVES[alg][1]
    length = {0: 0, 1: 2 * size - 1, -1: 2 * size + 1}[short]
    assert _refused(alg, b"\x01" * length).detail == f"{alg} signature must be {2 * size} raw bytes (r||s)"


@pytest.mark.parametrize("alg", sorted(EC_CURVES))
@pytest.mark.parametrize("which", ["r=0", "s=0", "both=0", "r=n", "s=n", "r>n", "s=2^bits-1"])
def test_values_outside_zero_to_n_are_refused(alg, which):
    n, size = EC_CURVES[alg]
    top = 2 ** (8 * size) - 1
    r, s = {
        "r=0": (0, 1),
        "s=0": (1, 0),
        "both=0": (0, 0),
        "r=n": (n, 1),
        "s=n": (1, n),
        "r>n": (n + 1, 1),
        "s=2^bits-1": (1, top),
    }[which]
    assert _refused(alg, _raw(alg, r, s)).detail == f"{alg} signature values out of range"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "EdDSA", "HS256", "none", ""])
def test_other_algorithms_are_not_its_business(alg):
    check_ecdsa_shape(alg, b"")  # the shape rule is ECDSA's; the others' signatures are checked by verify
