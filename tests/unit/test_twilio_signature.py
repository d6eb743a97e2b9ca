"""X-Twilio-Signature (core/factors/twilio_signature.py) against vectors computed by the vendor's own
validator: twilio==9.3.7 `twilio.request_validator.RequestValidator("12345").compute_signature(url, params)`
(the first one is also Twilio's documented example), and the core component's dispatch and bounds."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from sidecar.core.factors.callbacks import CallbackLimits
from sidecar.core.factors.second_factors import SecondFactors
from sidecar.core.factors.twilio_signature import sign, url_variants, verify_twilio_signature
from sidecar.core.shared.lifecycle import UnconfiguredUpstream
from sidecar.core.shared.outcomes import InvalidArgument, NotConfigured, Reason

LIMITS = CallbackLimits()
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
# RequestValidator.compute_signature, twilio==9.3.7.
SDK_FORM = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
SDK_FORM_WITH_PORT = "EpDEmp1PyjDYp77YxYU3GILBWzE="  # the same URL with :443
JSON_BODY = b'{"type":"challenge.approved","challenge_sid":"YC00000000000000000000000000000000"}'
JSON_URL = (
    "https://example.com/webhooks/verify?bodySHA256=2e4d1aa5ca3126fdf33ca4baa745f1c6a8de22142097654ef824cb294871967f"
)
SDK_JSON = "YXmLU9VlziWt0ooNHJnmJr523kw="
SDK_UNICODE = "ufknf0zqZHz5zh7P68HwXMxYIAw="  # https://example.com/cb, {"Body": "olá ☃", "Zeta": "", "alpha": "1"}
SDK_HTTP, SDK_HTTP_80 = "GoAud3UUQ8B+u9Viwx+RJ/qgyGM=", "DR+S007FNzzq5RKIxOZb7qGzpwU="  # http://example.com[:80]/cb A=1


def check(url=URL, params=PARAMS, body=None, signature=SDK_FORM):
    return verify_twilio_signature(TOKEN, url=url, params=params, body=body, signature=signature)


def test_signs_as_the_sdk_does():
    assert sign(TOKEN, URL, PARAMS) == SDK_FORM
    assert sign(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", PARAMS) == SDK_FORM_WITH_PORT
    assert sign(TOKEN, JSON_URL, {}) == SDK_JSON
    assert sign(TOKEN, "https://example.com/cb", {"Body": "olá ☃", "Zeta": "", "alpha": "1"}) == SDK_UNICODE
    assert sign(TOKEN, "http://example.com/cb", {"A": "1"}) == SDK_HTTP
    assert sign(TOKEN, "http://example.com:80/cb", {"A": "1"}) == SDK_HTTP_80


def test_the_sdks_signatures_verify_with_and_without_the_default_port():
    assert check().valid
    # Twilio signed with :443 but the app saw no port, and the other way round: both accepted, as the SDKs do.
    assert check(signature=SDK_FORM_WITH_PORT).valid
    assert check(url="https://mycompany.com:443/myapp.php?foo=1&bar=2").valid
    assert check(url="http://example.com:80/cb", params={"A": "1"}, signature=SDK_HTTP).valid
    assert check(url="http://example.com/cb", params={"A": "1"}, signature=SDK_HTTP_80).valid


def test_a_non_default_port_is_not_dropped():
    assert url_variants("https://h.example:8443/cb") == ["https://h.example:8443/cb"]
    assert not check(url="https://mycompany.com:8443/myapp.php?foo=1&bar=2").valid


@pytest.mark.parametrize(
    "change",
    [
        {"url": "https://mycompany.com/myapp.php?foo=1&bar=3"},  # the query is signed
        {"url": "https://mycompany.com/other.php?foo=1&bar=2"},
        {"params": {**PARAMS, "Digits": "1235"}},
        {"params": {**PARAMS, "Extra": ""}},
        {"params": {k: v for k, v in PARAMS.items() if k != "To"}},
        {"signature": SDK_JSON},
    ],
)
def test_any_change_breaks_it(change):
    verdict = check(**change)
    assert not verdict.valid and verdict.reason is Reason.BAD_SIGNATURE


def test_json_bodies_sign_the_url_with_the_body_hash():
    assert check(url=JSON_URL, params={}, body=JSON_BODY, signature=SDK_JSON).valid
    tampered = check(url=JSON_URL, params={}, body=JSON_BODY.replace(b"approved", b"denied"), signature=SDK_JSON)
    assert not tampered.valid and tampered.reason is Reason.BAD_SIGNATURE and "bodySHA256" in tampered.detail
    no_hash = check(url="https://example.com/webhooks/verify", params={}, body=JSON_BODY, signature=SDK_JSON)
    assert not no_hash.valid and no_hash.reason is Reason.MALFORMED
    twice = check(url=JSON_URL + "&bodySHA256=00", params={}, body=JSON_BODY, signature=SDK_JSON)
    assert not twice.valid and twice.reason is Reason.MALFORMED


def test_malformed_signature_and_url():
    assert check(signature="not base64!").reason is Reason.MALFORMED
    for url in ("/relative", "ftp://h/x", "https://h:99999/x"):
        with pytest.raises(InvalidArgument) as err:
            check(url=url)
        assert err.value.field == "url"


def factors(token: str | None = TOKEN) -> SecondFactors:
    return SecondFactors(UnconfiguredUpstream("verify"), twilio_auth_token=token, configured=False)


def request(f: SecondFactors, *, pairs=(), body=b"", url=URL, signature=SDK_FORM, limits=LIMITS):
    return f.verify_callback_request(
        nonce="", method="POST", url=url, pairs=list(pairs), body=body, signature=signature, limits=limits
    )


def test_the_component_takes_params_a_form_body_or_a_json_body():
    f = factors()
    assert request(f, pairs=PARAMS.items()).valid
    form = "&".join(f"{k}={v}" for k, v in PARAMS.items()).replace("+", "%2B").encode()
    assert request(f, body=form).valid
    assert request(f, body=JSON_BODY, url=JSON_URL, signature=SDK_JSON).valid


def test_repeated_keys_and_oversized_input_are_refused_naming_the_field():
    f = factors()
    form = b"Digits=1234&Digits=9999&" + "&".join(f"{k}={v}" for k, v in PARAMS.items() if k != "Digits").encode()
    with pytest.raises(InvalidArgument, match="repeats the key 'Digits'") as err:
        request(f, body=form)
    assert err.value.field == "body"
    with pytest.raises(InvalidArgument, match="repeats the key") as err:
        request(f, body=b'{"status":"denied","status":"approved"}', url=JSON_URL, signature=SDK_JSON)
    with pytest.raises(InvalidArgument, match="larger than"):
        request(f, body=b"A=" + b"x" * (64 * 1024))
    with pytest.raises(InvalidArgument, match="longer than"):
        request(f, pairs=[("A", "x" * 9000)])
    with pytest.raises(InvalidArgument, match="more than 3 entries"):
        request(f, pairs=[(f"k{i}", "v") for i in range(4)], limits=CallbackLimits(max_entries=3))
    with pytest.raises(InvalidArgument, match="not UTF-8"):
        request(f, body=b"A=\xff\xfe")
    with pytest.raises(InvalidArgument, match="not form-encoded"):
        request(f, body=b"no equals sign here")


def test_no_auth_token_never_answers_valid():
    with pytest.raises(NotConfigured, match="verify.auth_token"):
        request(factors(""), pairs=PARAMS.items())


def test_authy_callbacks_still_need_their_nonce():
    authy = SecondFactors(UnconfiguredUpstream("authy"), api_key="k", configured=False)
    with pytest.raises(InvalidArgument) as err:
        request(authy, pairs=PARAMS.items())
    assert err.value.field == "nonce"


def test_signature_is_hmac_sha1_of_url_then_sorted_pairs():
    # The construction itself, spelt out once (the SDK vectors above pin it; this says what it is).
    text = URL + "".join(k + PARAMS[k] for k in sorted(PARAMS))
    expected = base64.b64encode(hmac.new(TOKEN.encode(), text.encode(), hashlib.sha1).digest()).decode()
    assert expected == SDK_FORM
