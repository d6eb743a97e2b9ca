"""Second-factor decisions for an Authy-style platform: TOTP codes, push approvals, phone verification.

The platform is reached only through `AuthyUpstream` (core/factors/records.py; upstream/authy.py
implements it and runtime/assembly.py joins the two), so tests need no sockets,
and every call but the health probe goes through a circuit breaker ("authy"): while the platform
keeps failing, calls fail closed at once and it sees one probe per `circuit.open_seconds`.
One-time codes are never answered valid from a cache: every success comes from the platform, and
the one-time claims (core/onetime/ledger.py: this pod's ledger, then the fleet's when `ledger.backend` is
redis) make sure one code succeeds at most once within its window.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

import phonenumbers

from sidecar.config.settings import AuthySettings, CircuitSettings
from sidecar.core.factors import twilio_signature
from sidecar.core.factors.callbacks import CallbackLimits, params_from_body, tree_from_pairs, verify_signature
from sidecar.core.factors.records import (
    Activity,
    ApplicationStatistics,
    ApprovalDraft,
    ApprovalStatus,
    AuthyUpstream,
    PhoneInformation,
    PhoneNumber,
    PhoneVerificationStarted,
    TokenRequest,
    TokenSent,
    TotpEnrolment,
    TotpFactors,
    UserStatus,
)
from sidecar.core.onetime.ledger import UNAVAILABLE_DETAIL, Claim, OneTimeClaims, SharedLedger
from sidecar.core.shared.caches import Clock, SingleFlight, TtlLru
from sidecar.core.shared.hashing import TokenKey, token_key
from sidecar.core.shared.lifecycle import UpstreamComponent
from sidecar.core.shared.outcomes import (
    InvalidArgument,
    NotConfigured,
    Reason,
    Source,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamLimited,
    Verdict,
)

T = TypeVar("T")
TOTP_CODE = re.compile(r"[0-9]{6,10}")
PHONE_CODE = re.compile(r"[0-9]{4,10}")


def totp_code(code: str) -> str:
    """6–10 ASCII digits, checked before any upstream call."""
    if not code:
        raise InvalidArgument("code", "is required")
    if not TOTP_CODE.fullmatch(code):
        raise InvalidArgument("code", "must be 6 to 10 digits")
    return code


def phone_code(code: str) -> str:
    if not code:
        raise InvalidArgument("code", "is required")
    if not PHONE_CODE.fullmatch(code):
        raise InvalidArgument("code", "must be 4 to 10 digits")
    return code


def parse_phone(country: str, phone: str) -> PhoneNumber:
    """Country as ISO 3166 alpha-2 ("US") or calling code ("1", "+351"); phone validated by phonenumbers."""
    country = country.strip()
    if not country:
        raise InvalidArgument("country", "is required")
    if country.lstrip("+").isascii() and country.lstrip("+").isdigit():
        calling_code = int(country.lstrip("+"))
        region = phonenumbers.region_code_for_country_code(calling_code)
        if region == "ZZ":
            raise InvalidArgument("country", "is not a known calling code")
    elif len(country) == 2 and country.isascii() and country.isalpha():
        region = country.upper()
        calling_code = phonenumbers.country_code_for_region(region)
        if calling_code == 0:
            raise InvalidArgument("country", "is not a known ISO 3166 alpha-2 code")
    else:
        raise InvalidArgument("country", "must be an ISO 3166 alpha-2 code or a calling code")
    if not phone or not phone.strip():
        raise InvalidArgument("phone", "is required")
    if len(phone) > 64:
        raise InvalidArgument("phone", "is longer than 64 characters")
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidArgument("phone", f"is not a phone number ({str(exc).split(') ', 1)[-1]})") from None
    if number.country_code != calling_code:
        raise InvalidArgument("phone", f"does not belong to country +{calling_code}")
    if not phonenumbers.is_valid_number(number):
        raise InvalidArgument("phone", f"is not a valid number for {region}")
    return PhoneNumber(calling_code, str(number.national_number))


def verdict_for_upstream_error(exc: UpstreamError) -> Verdict:
    """A verification the platform could not answer is not valid (fail closed), with the why."""
    if isinstance(exc, UpstreamLimited):
        # A limit on this user or account (attempts, rate): the platform's answer, said as it is.
        return Verdict.deny(Reason.BLOCKED, exc.message, Source.UPSTREAM)
    if isinstance(exc, UpstreamAuthFailed):
        # Our credentials: still not valid (fail closed), but named, e.g. "verify: authentication failed (20003)".
        return Verdict.deny(Reason.UPSTREAM_UNAVAILABLE, f"{exc.upstream}: {exc.message}", Source.UPSTREAM)
    if exc.unavailable:
        # The status or our own message (timeout, "circuit open…"); never the vendor's body.
        return Verdict.deny(
            Reason.UPSTREAM_UNAVAILABLE, f"platform unavailable ({exc.status or exc.message})", Source.UPSTREAM
        )
    if exc.status == 404:
        return Verdict.deny(Reason.NOT_FOUND, exc.message, Source.UPSTREAM)
    return Verdict.deny(Reason.CHALLENGE_FAILED, exc.message, Source.UPSTREAM)


class SecondFactors(UpstreamComponent):
    """The second-factor component: decisions over an AuthyUpstream."""

    def __init__(
        self,
        upstream: AuthyUpstream,
        settings: AuthySettings | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        api_key: str = "",
        callback_window_seconds: float = 300.0,
        wall_clock: Clock = time.time,
        configured: bool = True,
        ledger: SharedLedger | None = None,
        breaker: str = "authy",
        totp_factors: TotpFactors | None = None,
        twilio_auth_token: str | None = None,
    ) -> None:
        super().__init__(upstream, breaker, clock=clock, configured=configured)
        # Twilio Verify: factor enrolment, and callbacks signed X-Twilio-Signature with the auth token
        # (None: Authy's X-Authy-Signature with api_key; "" : Verify without an auth token, refused).
        self.totp_factors = totp_factors
        self.twilio_auth_token = twilio_auth_token
        # The `authy` section as the assembly handed it (a code's replay window, the watch's pacing).
        self.settings = settings or AuthySettings(consumed_codes_max_entries=100_000)
        self.api_key = api_key
        self.callback_window_seconds = callback_window_seconds
        self._clock, self._sleep, self._wall_clock = clock, sleep, wall_clock
        max_entries = self.settings.consumed_codes_max_entries
        self._used = {kind: OneTimeClaims(kind, max_entries, clock, ledger) for kind in ("totp", "phone_code")}
        self._status_flight: SingleFlight[str, ApprovalStatus] = SingleFlight()
        # Pending statuses seen by watchers, kept one poll interval: N watchers, one poll per interval.
        self._recent: TtlLru[str, ApprovalStatus] = TtlLru(10_000, clock)

    def reload(self, authy: AuthySettings, circuit: CircuitSettings) -> None:  # the assembly's merged section
        """Live reload: the used-code ledger's size, the circuit (restart-only fields arrive reverted)."""
        self.settings = authy
        for claims in self._used.values():
            claims.resize(authy.consumed_codes_max_entries)
        self.circuit.configure(circuit)

    async def verify_totp(self, user_id: str, code: str, force: bool = False, factor_id: str = "") -> Verdict:
        key = token_key(f"totp\x00{user_id}\x00{totp_code(code)}")
        return await self._one_time(
            self._used["totp"],
            key,
            lambda: self._call(self.upstream.verify_token(user_id, code, force, factor_id)),
            "code",
        )

    async def check_phone(self, phone: PhoneNumber, code: str) -> Verdict:
        key = token_key(f"phone\x00{phone.country_code}\x00{phone.national}\x00{phone_code(code)}")
        return await self._one_time(
            self._used["phone_code"],
            key,
            lambda: self._call(self.upstream.check_phone_verification(phone, code)),
            "code",
        )

    async def _one_time(
        self, used: OneTimeClaims, key: TokenKey, ask: Callable[[], Awaitable[bool]], what: str
    ) -> Verdict:
        if used.is_used(key):
            return Verdict.deny(Reason.ALREADY_USED, f"{what} already used", Source.LOCAL)
        try:
            ok = await ask()
        except UpstreamError as exc:
            return verdict_for_upstream_error(exc)
        if not ok:
            return Verdict.deny(Reason.CHALLENGE_FAILED, f"{what} is not correct", Source.UPSTREAM)
        # Of two racing calls that both got a yes, only the first to consume wins.
        claim = await used.claim(key, self.settings.code_replay_window_seconds)
        if claim is Claim.UNAVAILABLE:
            return Verdict.deny(Reason.UPSTREAM_UNAVAILABLE, UNAVAILABLE_DETAIL, Source.UPSTREAM)
        if claim is Claim.ALREADY_USED:
            return Verdict.deny(Reason.ALREADY_USED, f"{what} already used", Source.LOCAL)
        return Verdict.ok(Source.UPSTREAM)

    async def request_token(self, request: TokenRequest) -> TokenSent:
        """Have the platform send the user's current TOTP code by SMS or call; VerifyTotp then checks it."""
        if request.via not in ("sms", "call"):
            raise InvalidArgument("via", "must be sms or call")
        return await self._call(self.upstream.request_token(request))

    async def create_approval(self, draft: ApprovalDraft) -> str:
        return await self._call(self.upstream.create_approval(draft))

    async def approval_status(self, approval_id: str) -> ApprovalStatus:
        return await self._status_flight.do(approval_id, lambda: self._call(self.upstream.approval_status(approval_id)))

    async def watch_approval(self, approval_id: str) -> AsyncIterator[ApprovalStatus]:
        """Yield the current status, then each change; stop at a final status or the watch limit.

        The platform is asked at most once per poll interval per request id, however many watch.
        A platform outage is waited out (nothing is yielded); a 404 ends the watch with the error.
        """
        give_up_at = self._clock() + self.settings.approval_watch_max_seconds
        last: ApprovalStatus | None = None
        while True:
            status = self._recent.get(approval_id)
            if status is None:
                try:
                    status = await self.approval_status(approval_id)
                except UpstreamError as exc:
                    if not exc.unavailable:
                        raise
                    status = None
                else:
                    self._recent.put(approval_id, status, self.settings.approval_poll_interval_seconds)
            if status is not None and status != last:
                last = status
                yield status
            if (status is not None and status.final) or self._clock() >= give_up_at:
                return
            await self._sleep(self.settings.approval_poll_interval_seconds)

    async def start_phone_verification(
        self, phone: PhoneNumber, via: str, locale: str, code_length: int
    ) -> PhoneVerificationStarted:
        if via not in ("sms", "call"):
            raise InvalidArgument("via", "must be sms or call")
        if code_length and not 4 <= code_length <= 10:
            raise InvalidArgument("code_length", "must be between 4 and 10")
        return await self._call(self.upstream.start_phone_verification(phone, via, locale, code_length))

    def verify_callback_request(
        self,
        *,
        nonce: str,
        method: str,
        url: str,
        pairs: list[tuple[str, str]],
        body: bytes,
        signature: str,
        limits: CallbackLimits,
    ) -> Verdict:
        """A callback as it arrived (form pairs, or the raw body), checked by the provider's scheme."""
        if self.twilio_auth_token is None:
            if not nonce:
                raise InvalidArgument("nonce", "is required")
            params = tree_from_pairs(pairs, limits, "params") if pairs else params_from_body(body, limits)
            return self.verify_callback(nonce=nonce, method=method, url=url, params=params, signature=signature)
        if not self.twilio_auth_token:
            raise NotConfigured("verify.auth_token is not set: X-Twilio-Signature cannot be checked")
        json_body: bytes | None = None
        if pairs:
            form = twilio_signature.form_params(pairs, limits, "params")
        elif body.lstrip().startswith((b"{", b"[")):
            params_from_body(body, limits)  # bounded, and a repeated member refused, as for Authy
            form, json_body = {}, body
        else:
            form = twilio_signature.body_params(body, limits)
        return twilio_signature.verify_twilio_signature(
            self.twilio_auth_token, url=url, params=form, body=json_body, signature=signature
        )

    def verify_callback(self, *, nonce: str, method: str, url: str, params: Mapping, signature: str) -> Verdict:
        if not self.api_key:
            # An empty HMAC key is one anybody can sign with: never answer valid without a real key.
            raise NotConfigured("authy.api_key is not set: callback signatures cannot be checked")
        return verify_signature(
            self.api_key,
            nonce=nonce,
            method=method,
            url=url,
            params=params,
            signature=signature,
            now=self._wall_clock(),
            window_seconds=self.callback_window_seconds,
        )

    async def enrol_totp(self, user_id: str, friendly_name: str) -> TotpEnrolment:
        """A new TOTP factor for the user (Twilio Verify); its binding is answered once, never kept here."""
        if self.totp_factors is None:
            raise NotConfigured("EnrollTotp needs second_factors.provider: verify (the Authy API has no such call)")
        return await self._call(self.totp_factors.enrol_totp(user_id, friendly_name))

    async def confirm_totp(self, user_id: str, factor_id: str, code: str) -> Verdict:
        """The first code from the app makes the factor verified; VerifyTotp works from then on."""
        if self.totp_factors is None:
            raise NotConfigured("ConfirmTotp needs second_factors.provider: verify (the Authy API has no such call)")
        enrolment = self.totp_factors
        try:
            ok = await self._call(enrolment.confirm_totp(user_id, factor_id, totp_code(code)))
        except UpstreamError as exc:
            return verdict_for_upstream_error(exc)
        if not ok:
            return Verdict.deny(Reason.CHALLENGE_FAILED, "code is not correct", Source.UPSTREAM)
        return Verdict.ok(Source.UPSTREAM)

    async def register_user(self, email: str, phone: PhoneNumber) -> str:
        return await self._call(self.upstream.register_user(email, phone))

    async def delete_user(self, user_id: str) -> None:
        await self._call(self.upstream.delete_user(user_id))

    async def user_status(self, user_id: str) -> UserStatus:
        return await self._call(self.upstream.user_status(user_id))

    async def register_activity(self, activity: Activity) -> str:
        return await self._call(self.upstream.register_activity(activity))

    async def application_statistics(self) -> ApplicationStatistics:
        return await self._call(self.upstream.application_statistics())

    async def phone_information(self, phone: PhoneNumber, ip: str = "") -> PhoneInformation:
        return await self._call(self.upstream.phone_information(phone, ip))
