"""Drives the PyPI twilio==9.13.0 SDK against the emulator's /twilio-verify area through the SDK's own domain
base URL (`client.verify.base_url`, twilio/base/domain.py; region and edge unset): every Verify v2 operation
the sidecar uses. Run in its own interpreter with the SDK's ignored install folder on sys.path (never
imported by pytest). Prints one JSON line {step: {ok, result | error}}: the SDK's parsed instances.
TOTP codes come from pyotp (pinned with the SDK) over the secret the factor's binding returned.
    python drive.py <emulator-url> <account-sid> <auth-token> <api-key-sid> <api-key-secret> <service-sid>
"""

import json
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pyotp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

emulator, account_sid, auth_token, key_sid, key_secret, service_sid = sys.argv[1:7]
results: dict = {}


def client(user: str, password: str, **kw) -> Client:
    c = Client(user, password, **kw)
    c.verify.base_url = f"{emulator}/twilio-verify"
    return c


def plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def public(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, list):  # a list() call: its instances
        return [public(v) for v in value]
    return {k: v for k, v in vars(value).items() if not k.startswith("_")}


def step(name, call):
    try:
        results[name] = {"ok": True, "result": plain(public(call()))}
    except TwilioRestException as e:
        results[name] = {"ok": False, "error": {"status": e.status, "code": e.code, "message": e.msg}}
    except TwilioException as e:  # a list's page that is not 200 (base/page.py: "Unable to fetch page")
        answer = e.args[1] if len(e.args) > 1 else None
        status, body = getattr(answer, "status_code", None), json.loads(getattr(answer, "text", "") or "{}")
        results[name] = {"ok": False, "error": {"status": status, "code": body.get("code"), "message": e.args[0]}}
    return results[name].get("result")


def control(method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{emulator}/_control/twilio-verify{path}", data=data, method=method)
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def totp(binding: dict, config: dict, ahead: int) -> str:
    digest = {"sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}[config["alg"]]
    otp = pyotp.TOTP(binding["secret"], digits=config["code_length"], interval=config["time_step"], digest=digest)
    return otp.at(time.time() + ahead * config["time_step"])


def main() -> None:
    verify = client(account_sid, auth_token).verify.v2.services(service_sid)
    phone = "+14155550201"
    started = step("createVerification", lambda: verify.verifications.create(to=phone, channel="sms", locale="en"))
    code = control("GET", f"/verifications/{started['sid']}")["code"]
    step("fetchVerification", lambda: verify.verifications(started["sid"]).fetch())
    wrong = "111111" if code == "000000" else "000000"
    step("checkWrong", lambda: verify.verification_checks.create(to=phone, code=wrong))
    step("checkRight", lambda: verify.verification_checks.create(to=phone, code=code))
    step("checkAgain", lambda: verify.verification_checks.create(verification_sid=started["sid"], code=code))
    other = step("createCall", lambda: verify.verifications.create(to="+14155550202", channel="call"))
    step("cancel", lambda: verify.verifications(other["sid"]).update(status="canceled"))
    step("checkCanceled", lambda: verify.verification_checks.create(verification_sid=other["sid"], code="123456"))
    step("createForAttempts", lambda: verify.verifications.create(to="+14155550203", channel="sms"))
    for i in range(1, 7):
        step(f"attempt{i}", lambda: verify.verification_checks.create(to="+14155550203", code="0000"))
    for i in range(1, 7):
        step(f"send{i}", lambda: verify.verifications.create(to="+14155550204", channel="sms"))
    control("POST", "/faults", {"rate_limited": 1, "retry_after": 7})
    step("rateLimited", lambda: verify.verifications.create(to="+14155550205", channel="sms"))

    identity = "python-sdk-user-0001"
    entity = verify.entities(identity)
    factor = step("createTotpFactor", lambda: entity.new_factors.create(friendly_name="Py phone", factor_type="totp"))
    binding, config = factor["binding"], factor["config"]
    step("verifyFactor", lambda: entity.factors(factor["sid"]).update(auth_payload=totp(binding, config, 0)))
    step("fetchFactor", lambda: entity.factors(factor["sid"]).fetch())
    ahead = totp(binding, config, 1)
    step("totpChallenge", lambda: entity.challenges.create(factor_sid=factor["sid"], auth_payload=ahead))
    step("totpChallengeReplay", lambda: entity.challenges.create(factor_sid=factor["sid"], auth_payload=ahead))
    pending = step("totpChallengeNoPayload", lambda: entity.challenges.create(factor_sid=factor["sid"]))
    step("totpChallengeUpdateReplay", lambda: entity.challenges(pending["sid"]).update(auth_payload=ahead))

    push = step(
        "createPushFactor",
        lambda: entity.new_factors.create(
            friendly_name="Py push",
            factor_type="push",
            binding_alg="ES256",
            binding_public_key="MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8GdwtibWe0kpgsFl6xPQBwhtwUEyeJkeozFmi2jiJDzxFSMwVy3kVR1h/dPVYOfgkC0EkfBRJ0J/6xW47FD5vA==",
            config_app_id="com.example.app",
            config_notification_platform="apn",
            config_notification_token="a" * 64,
            config_sdk_version="1.0.0",
        ),
    )
    control("POST", f"/factors/{push['sid']}/verify")
    expires = datetime.now(UTC) + timedelta(minutes=10)
    challenge = step(
        "pushChallenge",
        lambda: entity.challenges.create(
            factor_sid=push["sid"],
            details_message="Log in to Example?",
            details_fields=[{"label": "Action", "value": "Sign in"}],
            hidden_details={"ip": "203.0.113.9"},
            expiration_date=expires,
        ),
    )
    control("POST", f"/challenges/{challenge['sid']}", {"status": "approved"})
    step("pushChallengeMessageOnly", lambda: entity.challenges.create(factor_sid=push["sid"], details_message="Pay?"))
    step("fetchPushApproved", lambda: entity.challenges(challenge["sid"]).fetch())
    token = step(
        "createAccessToken",
        lambda: verify.access_tokens.create(identity=identity, factor_type="push", factor_friendly_name="Py push"),
    )
    step("fetchAccessToken", lambda: verify.access_tokens(token["sid"]).fetch())
    step("deleteFactor", lambda: entity.factors(push["sid"]).delete())
    step("fetchDeletedFactor", lambda: entity.factors(push["sid"]).fetch())

    # What the sidecar reads and removes: the entity's factors (a page at a time), the entity, the service.
    step("createTotpFactorForList", lambda: entity.new_factors.create(friendly_name="Py tablet", factor_type="totp"))
    step("listFactors", lambda: entity.factors.list())
    step("listFactorsPaged", lambda: entity.factors.list(page_size=1))
    step("fetchEntity", lambda: entity.fetch())
    step("fetchService", lambda: verify.fetch())
    step("deleteEntity", lambda: entity.delete())
    step("fetchDeletedEntity", lambda: entity.fetch())
    step("listDeletedEntity", lambda: entity.factors.list())
    step("deleteDeletedEntity", lambda: entity.delete())
    unknown = client(account_sid, auth_token).verify.v2.services("VA" + "0" * 32)
    step("fetchUnknownService", lambda: unknown.fetch())

    keyed = client(key_sid, key_secret, account_sid=account_sid).verify.v2.services(service_sid)
    step("apiKeyAuth", lambda: keyed.verifications(started["sid"]).fetch())
    wrong_token = client(account_sid, "wrong-token").verify.v2.services(service_sid)
    step("wrongToken", lambda: wrong_token.verifications(started["sid"]).fetch())


try:
    main()
except Exception as exc:  # noqa: BLE001 — reported to the test, which fails on it
    results["crashed"] = repr(exc)
print(json.dumps(results))
