"""How Twilio signs a webhook (X-Twilio-Signature), written from the SDKs' validators: npm twilio@6.3.1
lib/webhooks/webhooks.js (getExpectedTwilioSignature, getExpectedBodyHash, validateRequestWithBody) and
PyPI twilio==9.13.0 twilio/request_validator.py (compute_signature, compute_hash, validate).

Form body: base64(HMAC-SHA1(auth_token, url + each param name followed by its value, names sorted,
a repeated name's distinct values sorted)). JSON body: the URL carries `bodySHA256=<hex sha256 of the
body>` and is signed with no params. The validators also accept the URL with or without its default port.
Standalone: no sidecar imports.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

SIGNATURE_HEADER = "X-Twilio-Signature"


def signature(auth_token: str, url: str, params: Mapping[str, str | Sequence[str]] | None = None) -> str:
    data = url
    for name in sorted(params or {}):
        value = (params or {})[name]
        for item in sorted(set([value] if isinstance(value, str) else value)):
            data += name + item
    mac = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def body_url(url: str, body: str) -> str:
    """The URL a JSON-bodied webhook is sent to (and signed over): with bodySHA256 in its query."""
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return f"{url}{'&' if '?' in url else '?'}bodySHA256={digest}"


def signed_form(auth_token: str, url: str, params: Mapping[str, str | Sequence[str]]) -> dict:
    """A webhook request as Twilio sends it with a form body: {method, url, headers, body, params, signature}."""
    sig = signature(auth_token, url, params)
    return {
        "method": "POST",
        "url": url,
        "headers": {"Content-Type": "application/x-www-form-urlencoded", SIGNATURE_HEADER: sig},
        "body": urlencode(list(params.items()), doseq=True),
        "params": dict(params),
        "signature": sig,
    }


def signed_json(auth_token: str, url: str, body: str) -> dict:
    """A webhook request as Twilio sends it with a JSON body: signed over the URL carrying bodySHA256."""
    signed_url = body_url(url, body)
    sig = signature(auth_token, signed_url)
    return {
        "method": "POST",
        "url": signed_url,
        "headers": {"Content-Type": "application/json", SIGNATURE_HEADER: sig},
        "body": body,
        "params": {},
        "signature": sig,
    }
