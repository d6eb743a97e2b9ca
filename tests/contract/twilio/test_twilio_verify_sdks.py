"""Both official twilio SDKs (npm twilio@6.3.1, PyPI twilio==9.13.0, each in its own ignored install folder)
drive every Verify v2 operation the sidecar uses against the emulator, through their own base-URL option
(region and edge unset), and their parsed results are asserted here. The emulator records what each SDK
sent: the last test pins the wire the sidecar's adapter is compared with (method, path, auth, encoding).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import pytest

from sidecar.emulator.credentials import (
    TWILIO_ACCOUNT_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_API_KEY_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_VERIFY_SERVICE_SID,
)
from tests.contract.conftest import run_node
from tests.contract.twilio.python_sdk import run_python

CREDENTIALS = (
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_API_KEY_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_VERIFY_SERVICE_SID,
)
AGENTS = {"node": "twilio-node/6.3.1", "python": "twilio-python/9.13.0"}
NO_REGION = {"TWILIO_REGION": "", "TWILIO_EDGE": ""}
# One run of both drivers serves every test here: keep them on one worker, and start it early.
pytestmark = [pytest.mark.long, pytest.mark.xdist_group("twilio_verify_sdks")]


def _fresh(emulator) -> None:
    emulator.reset()
    emulator.http.post("/_control/twilio-verify/reset").raise_for_status()


@pytest.fixture(scope="module")
def runs(node_project, _emulator_process):
    """{sdk: (results, requests it sent)} — one run of each driver against a fresh emulator area."""
    emulator = _emulator_process
    out = {}
    for sdk in ("node", "python"):
        _fresh(emulator)
        if sdk == "node":
            results = run_node(node_project("twilio"), "drive.js", emulator.url, *CREDENTIALS, env=NO_REGION)
        else:
            results = run_python("drive.py", emulator.url, *CREDENTIALS)
        assert "crashed" not in results, results["crashed"]
        sent = [r for r in emulator.requests() if r["headers"].get("user-agent", "").startswith(AGENTS[sdk])]
        out[sdk] = (results, sent)
    _fresh(emulator)
    return out


def field(result: dict, snake: str):
    """A parsed field by its wire name: the python SDK keeps snake_case, the node SDK camelCases it."""
    if snake in result:
        return result[snake]
    head, *rest = snake.split("_")
    return result[head + "".join(part.title() for part in rest)]


def ok(results: dict, name: str) -> dict:
    assert results[name]["ok"], f"{name}: {results[name]}"
    return results[name]["result"]


def failed(results: dict, name: str, status: int, code: int) -> None:
    assert not results[name]["ok"], f"{name} should have failed: {results[name]}"
    error = results[name]["error"]
    assert (error["status"], error["code"]) == (status, code), f"{name}: {error}"


SDKS = pytest.mark.parametrize("sdk", ["node", "python"])


@SDKS
def test_a_verification_is_started_checked_once_and_then_gone(runs, sdk):
    results, _ = runs[sdk]
    started = ok(results, "createVerification")
    assert re.fullmatch(r"VE[0-9a-f]{32}", started["sid"]) and started["status"] == "pending"
    assert (
        field(started, "service_sid") == TWILIO_VERIFY_SERVICE_SID
        and field(started, "account_sid") == TWILIO_ACCOUNT_SID
    )
    assert started["channel"] == "sms" and started["valid"] is False and started["to"].startswith("+1415555")
    assert field(started, "date_created").startswith("20") and started["url"].endswith(
        f"/Verifications/{started['sid']}"
    )
    assert field(started, "send_code_attempts")[0]["channel"] == "SMS"
    assert ok(results, "fetchVerification")["sid"] == started["sid"]
    wrong, right = ok(results, "checkWrong"), ok(results, "checkRight")
    assert (wrong["status"], wrong["valid"]) == ("pending", False)  # a wrong code is an answer, not an error
    assert (right["status"], right["valid"], right["sid"]) == ("approved", True, started["sid"])
    failed(results, "checkAgain", 404, 20404)  # approved: the platform forgets it
    assert ok(results, "cancel")["status"] == "canceled"
    failed(results, "checkCanceled", 404, 20404)


def test_node_resends_on_the_same_verification_and_approves_by_update(runs):
    results, _ = runs["node"]
    first, again = ok(results, "createVerification"), ok(results, "resend")
    assert again["sid"] == first["sid"] and again["channel"] == "call" and len(again["sendCodeAttempts"]) == 2
    assert ok(results, "approveByUpdate")["status"] == "approved"
    assert ok(results, "fetchApproved")["status"] == "approved"
    failed(results, "badChannel", 400, 60200)
    failed(results, "badTo", 400, 60200)
    failed(results, "unknownVerification", 404, 20404)


@SDKS
def test_attempt_send_and_rate_limits_are_errors_with_their_codes(runs, sdk):
    results, _ = runs[sdk]
    for i in range(1, 6):
        assert ok(results, f"attempt{i}")["status"] == "pending"
    failed(results, "attempt6", 429, 60202)
    sids = {ok(results, f"send{i}")["sid"] for i in range(1, 6)}
    assert len(sids) == 1
    failed(results, "send6", 429, 60203)
    failed(results, "rateLimited", 429, 20429)


def test_node_sees_the_not_one_time_fault_and_concurrency_limit(runs):
    results, _ = runs["node"]
    failed(results, "concurrentLimited", 429, 60212)
    assert ok(results, "notOneTimeFirst")["status"] == "approved"
    assert ok(results, "notOneTimeAgain")["status"] == "approved"  # the fault: the platform says yes again
    failed(results, "oneTimeAgain", 404, 20404)


@SDKS
def test_a_totp_factor_binds_once_verifies_and_approves_challenges_once_per_code(runs, sdk):
    results, _ = runs[sdk]
    factor = ok(results, "createTotpFactor")
    assert re.fullmatch(r"YF[0-9a-f]{32}", factor["sid"]) and factor["status"] == "unverified"
    assert field(factor, "factor_type") == "totp" and re.fullmatch(r"YE[0-9a-f]{32}", field(factor, "entity_sid"))
    binding = factor["binding"]
    assert re.fullmatch(r"[A-Z2-7]{32}", binding["secret"]) and binding["uri"].startswith("otpauth://totp/")
    assert f"secret={binding['secret']}" in binding["uri"]
    assert factor["config"] == {"alg": "sha1", "skew": 1, "code_length": 6, "time_step": 30}
    assert ok(results, "verifyFactor")["status"] == "verified"  # the code this SDK's side computed (RFC 6238)
    fetched = ok(results, "fetchFactor")
    assert fetched["status"] == "verified" and fetched.get("binding") is None  # the secret is answered once
    approved = ok(results, "totpChallenge")
    assert approved["status"] == "approved" and field(approved, "factor_sid") == factor["sid"]
    assert re.fullmatch(r"YC[0-9a-f]{32}", approved["sid"]) and field(approved, "date_responded")
    assert ok(results, "totpChallengeReplay")["status"] == "pending"  # the same code again: not approved
    if sdk == "node":
        assert ok(results, "verifyFactorWrong")["status"] == "unverified"
        second = ok(results, "createTotpFactor2")
        assert second["config"]["code_length"] == 8 and second["config"]["alg"] == "sha256"
        assert "digits=8" in second["binding"]["uri"] and "algorithm=SHA256" in second["binding"]["uri"]
        assert ok(results, "verifyFactor2")["status"] == "verified"
        assert ok(results, "totpChallengeNoPayload")["status"] == "pending"
        assert ok(results, "totpChallengeUpdate")["status"] == "approved"
        assert ok(results, "fetchTotpChallenge")["status"] == "approved"
    else:
        assert ok(results, "totpChallengeNoPayload")["status"] == "pending"
        assert ok(results, "totpChallengeUpdateReplay")["status"] == "pending"


@SDKS
def test_a_push_challenge_carries_its_details_and_the_users_answer(runs, sdk):
    results, _ = runs[sdk]
    factor = ok(results, "createPushFactor")
    assert factor["binding"]["alg"] == "ES256" and factor["binding"]["public_key"] and factor["status"] == "unverified"
    assert factor["config"]["app_id"] == "com.example.app"
    challenge = ok(results, "pushChallenge")
    assert challenge["status"] == "pending" and field(challenge, "factor_type") == "push"
    assert challenge["details"]["message"] == "Log in to Example?"
    assert challenge["details"]["fields"][0] == {"label": "Action", "value": "Sign in"}
    assert field(challenge, "hidden_details") == {"ip": "203.0.113.9"}
    assert field(challenge, "expiration_date") and challenge["links"]["notifications"].endswith("/Notifications")
    approved = ok(results, "fetchPushApproved")
    assert approved["status"] == "approved" and field(approved, "date_responded")
    if sdk == "python":
        bare = ok(results, "pushChallengeMessageOnly")
        assert bare["status"] == "pending" and bare["details"]["fields"] == [] and field(bare, "hidden_details") is None
    if sdk == "node":
        failed(results, "pushChallengeUnverified", 400, 60200)
        assert ok(results, "fetchPushFactor")["status"] == "verified"
        assert ok(results, "fetchPushPending")["status"] == "pending"
        assert ok(results, "fetchPushDenied")["status"] == "denied"
        assert ok(results, "fetchPushExpired")["status"] == "expired"
        failed(results, "pushChallengeTooLong", 400, 60200)


@SDKS
def test_access_tokens_factor_removal_and_credentials(runs, sdk):
    results, _ = runs[sdk]
    token = ok(results, "createAccessToken")
    assert re.fullmatch(r"YK[0-9a-f]{32}", token["sid"]) and token["token"] and field(token, "factor_type") == "push"
    assert field(token, "entity_identity").endswith("-sdk-user-0001") and token["ttl"] == (300 if sdk == "node" else 60)
    assert ok(results, "fetchAccessToken")["sid"] == token["sid"]
    assert ok(results, "deleteFactor") is True
    failed(results, "fetchDeletedFactor", 404, 20404)
    assert ok(results, "apiKeyAuth")["sid"] == ok(results, "createVerification")["sid"]
    failed(results, "wrongToken", 401, 20003)
    if sdk == "node":
        failed(results, "unknownService", 404, 20404)


@SDKS
def test_factors_are_listed_page_by_page_and_an_entity_is_fetched_and_deleted(runs, sdk):
    """What GetUserStatus, DeleteUser, CheckUpstreamHealth and a factor-less VerifyTotp read: the SDK's list
    follows meta.next_page_url (absolute) page by page; an entity's deletion takes its factors with it."""
    results, sent = runs[sdk]
    listed = ok(results, "listFactors")
    assert len(listed) == 2 and all(f.get("binding") is None for f in listed)  # the secret was answered once
    assert {field(f, "factor_type") for f in listed} == {"totp"} and {f["status"] for f in listed} >= {"verified"}
    assert [f["sid"] for f in ok(results, "listFactorsPaged")] == [f["sid"] for f in listed]
    paged = [r["query"] for r in sent if r["method"] == "GET" and r["route"].endswith("/Factors")]
    assert "" in paged and "PageSize=1" in paged and any("Page=1" in q and "PageToken=" in q for q in paged)
    entity = ok(results, "fetchEntity")
    assert re.fullmatch(r"YE[0-9a-f]{32}", entity["sid"]) and entity["identity"].endswith("-sdk-user-0001")
    assert entity["links"]["factors"].endswith(f"/Entities/{entity['identity']}/Factors")
    service = ok(results, "fetchService")
    assert service["sid"] == TWILIO_VERIFY_SERVICE_SID and field(service, "code_length") == 6
    assert service["totp"]["time_step"] == 30 and service["links"]["entities"].endswith("/Entities")
    assert ok(results, "deleteEntity") is True
    failed(results, "fetchDeletedEntity", 404, 20404)
    failed(results, "listDeletedEntity", 404, 20404)
    failed(results, "deleteDeletedEntity", 404, 20404)
    failed(results, "fetchUnknownService", 404, 20404)


@SDKS
def test_every_request_is_basic_auth_and_form_encoded_with_pascal_case_keys(runs, sdk):
    _, sent = runs[sdk]
    assert len(sent) >= 30
    for request in sent:
        assert request["headers"]["authorization"].startswith("Basic "), request
        assert request["path"].startswith("/twilio-verify/v2/Services/"), request
        if request["method"] == "POST":
            assert request["headers"]["content-type"].startswith("application/x-www-form-urlencoded"), request
            keys = [k for k, _ in parse_qsl(request["body"], keep_blank_values=True)]
            assert all(re.fullmatch(r"[A-Z][A-Za-z]*(\.[A-Z][A-Za-z]*)?", k) for k in keys), request
        elif request["route"].endswith("/Factors"):  # a list: only the paging keys
            assert {k for k, _ in parse_qsl(request["query"])} <= {"PageSize", "Page", "PageToken"}, request
        else:
            assert request["query"] == "", request


def test_both_sdks_send_the_same_keys_for_the_same_operation(runs):
    """The wire is the SDKs' shared spec: where both drive an operation with the same arguments, the form
    keys agree — the reference the sidecar's adapter is compared with."""

    def keys(sdk: str, route_end: str, first_key: str) -> set:
        for r in runs[sdk][1]:
            if r["method"] == "POST" and r["route"].endswith(route_end):
                found = {k for k, _ in parse_qsl(r["body"], keep_blank_values=True)}
                if first_key in found:
                    return found
        raise AssertionError(f"{sdk} sent no POST …{route_end} with {first_key}")

    assert (
        keys("node", "/Verifications", "Locale")
        == keys("python", "/Verifications", "Locale")
        == {"To", "Channel", "Locale"}
    )
    assert keys("node", "/VerificationCheck", "To") == keys("python", "/VerificationCheck", "To") == {"To", "Code"}
    assert keys("node", "/VerificationCheck", "VerificationSid") == {"VerificationSid", "Code"}
    assert keys("python", "/VerificationCheck", "VerificationSid") == {"VerificationSid", "Code"}
    totp = {"FriendlyName", "FactorType"}
    assert keys("node", "/Factors", "FactorType") == keys("python", "/Factors", "FactorType") == totp
    assert (
        keys("node", "/Factors/{sid}", "AuthPayload")
        == keys("python", "/Factors/{sid}", "AuthPayload")
        == {"AuthPayload"}
    )
    assert keys("node", "/AccessTokens", "Identity") >= {"Identity", "FactorType", "FactorFriendlyName"}
    assert keys("python", "/AccessTokens", "Identity") == {"Identity", "FactorType", "FactorFriendlyName"}
    push = {"FactorSid", "Details.Message", "Details.Fields", "HiddenDetails", "ExpirationDate"}
    assert keys("node", "/Challenges", "HiddenDetails") == keys("python", "/Challenges", "HiddenDetails") == push
