"""Callback signatures: valid, tampered, wrong key, wrong/stale/future nonce, reordered params."""

from __future__ import annotations

import base64
import hashlib
import hmac

from sidecar.core.callbacks import canonical_string, flatten_params, params_from_body, sign, verify_signature
from sidecar.core.outcomes import Reason

KEY = "app-api-key"
URL = "https://app.example.com/callback/onetouch"
NOW = 1_700_000_000.0
PARAMS = {"approval_request": {"status": "approved", "uuid": "abc-123",
                               "transaction": {"details": {"Account Number": "981266321"}}},
          "callback_action": "approval_request_status", "device_uuid": "d1", "user_id": 1635, "ok": True}


def check(params, *, signature=None, nonce=str(int(NOW)), method="POST", url=URL, now=NOW, window=300.0, key=KEY):
    pairs = flatten_params(params)
    if signature is None:
        signature = sign(key, nonce, method, url, pairs)
    return verify_signature(KEY, nonce=nonce, method=method, url=url, params=pairs, signature=signature,
                            now=now, window_seconds=window)


def test_signature_is_hmac_sha256_over_nonce_method_url_and_sorted_params():
    pairs = [("b", "2"), ("a", "x y")]
    expected = base64.b64encode(hmac.new(KEY.encode(), b"1|POST|https://h/p|a=x%20y&b=2", hashlib.sha256).digest())
    assert sign(KEY, "1", "post", "https://h/p", pairs) == expected.decode()
    assert canonical_string("1", "post", "https://h/p", pairs) == "1|POST|https://h/p|a=x%20y&b=2"


def test_valid_signature_is_accepted():
    verdict = check(PARAMS)
    assert verdict.valid and verdict.reason is Reason.NONE


def test_reordered_params_still_verify():
    signature = sign(KEY, str(int(NOW)), "POST", URL, flatten_params(PARAMS))
    reordered = dict(reversed(list(PARAMS.items())))
    assert list(reordered) != list(PARAMS)
    assert check(reordered, signature=signature).valid


def test_tampered_body_is_bad_signature():
    signature = sign(KEY, str(int(NOW)), "POST", URL, flatten_params(PARAMS))
    tampered = {**PARAMS, "approval_request": {**PARAMS["approval_request"], "status": "denied"}}
    assert check(tampered, signature=signature).reason is Reason.BAD_SIGNATURE


def test_tampered_url_method_or_key_is_bad_signature():
    signature = sign(KEY, str(int(NOW)), "POST", URL, flatten_params(PARAMS))
    assert check(PARAMS, signature=signature, url=URL + "x").reason is Reason.BAD_SIGNATURE
    assert check(PARAMS, signature=signature, method="PUT").reason is Reason.BAD_SIGNATURE
    assert check(PARAMS, key="another-key").reason is Reason.BAD_SIGNATURE


def test_wrong_nonce_is_bad_signature():
    signature = sign(KEY, str(int(NOW)), "POST", URL, flatten_params(PARAMS))
    assert check(PARAMS, signature=signature, nonce=str(int(NOW) - 1)).reason is Reason.BAD_SIGNATURE


def test_stale_or_future_nonce_is_expired_even_when_signed_correctly():
    old = str(int(NOW) - 301)
    assert check(PARAMS, nonce=old).reason is Reason.EXPIRED
    assert check(PARAMS, nonce=str(int(NOW) + 301)).reason is Reason.EXPIRED
    assert check(PARAMS, nonce=str(int(NOW) - 299)).valid


def test_unreadable_nonce_or_signature_is_malformed():
    assert check(PARAMS, nonce="yesterday").reason is Reason.MALFORMED
    assert check(PARAMS, nonce="nan").reason is Reason.MALFORMED
    assert check(PARAMS, signature="not base64!!").reason is Reason.MALFORMED


def test_body_json_and_form_give_the_same_params():
    as_json = params_from_body(b'{"b": {"c": "1"}, "a": "x y", "t": true}')
    as_form = params_from_body(b"t=true&a=x+y&b%5Bc%5D=1")
    assert sorted(as_json) == sorted(as_form) == [("a", "x y"), ("b[c]", "1"), ("t", "true")]
