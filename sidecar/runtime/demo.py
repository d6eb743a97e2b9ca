"""What `make run` shows once the sidecar is up: real calls against the embedded emulator.

Each step sets something up on the emulator (its control API), asks the sidecar over gRPC, and
prints the answer — then it prints commands to try by hand.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import uuid

import grpc
import httpx

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc, factors_pb2_grpc
from authsidecar.v1 import factors_pb2 as fpb

PHONE = "+14155552671"


def _line(label: str, reply) -> None:
    fields = []
    for name in ("valid", "is_valid", "revoked", "status", "state", "reason", "source"):
        field = reply.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            continue
        value = getattr(reply, name)
        if field.enum_type is not None:
            prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", field.enum_type.name).upper() + "_"
            value = field.enum_type.values_by_number[value].name.removeprefix(prefix)
            if value == "UNSPECIFIED":
                continue
        fields.append(f"{name}={value}")
    print(f"  {label:<46} → {' '.join(fields)}", flush=True)


async def show(server) -> None:
    while not server.readiness()[0]:
        await asyncio.sleep(0.1)
    target = server.settings.listen[0]
    print(f"\nauthsidecar is SERVING on {target} (metrics: http://{server.settings.ops_listen}/metrics)", flush=True)
    if server.emulator is None:
        print(f"Try:  .venv/bin/sidecar health --target {target}\n", flush=True)
        return
    base = f"http://{server.settings.emulator.listen}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as emu, grpc.aio.insecure_channel(target) as ch:
            hints = await _walkthrough(emu, auth_pb2_grpc.AuthServiceStub(ch))
            await _factors_walkthrough(emu, ch)
            await _verify_walkthrough(server, emu)
    except (httpx.HTTPError, grpc.aio.AioRpcError) as exc:
        print(f"(demo stopped: {type(exc).__name__}: {exc})", flush=True)
        return
    print("\nTry it yourself (the sidecar keeps running; Ctrl-C stops it):", flush=True)
    for hint in hints:
        print(f"  .venv/bin/sidecar call --target {target} {hint}", flush=True)
    ops_port = server.settings.ops_listen.rpartition(":")[2]
    print(f"  curl -s http://127.0.0.1:{ops_port}/metrics | grep authsidecar_rpc_total\n", flush=True)


async def _walkthrough(emu: httpx.AsyncClient, stub) -> list[str]:
    async def post(path: str, body: dict) -> dict:
        resp = await emu.post(path, json=body)
        resp.raise_for_status()
        return resp.json()

    print("\nSessions (reverse authentication, revocation over SSE):", flush=True)
    session = (await post("/_control/platform/sessions", {"phone": PHONE, "status": "pending"}))["session_token"]
    ask = pb.VerifySessionRequest(session_token=session, phone="+1 415-555-2671")
    _line("VerifySession, user has not confirmed yet", await stub.VerifySession(ask))
    await post("/_control/platform/sessions/verify", {"session_token": session})
    _line("VerifySession after the user confirmed", await stub.VerifySession(ask))
    _line("VerifySession again", await stub.VerifySession(ask))
    await post("/_control/platform/sessions/revoke", {"session_token": session})
    await asyncio.sleep(0.2)  # the revocation arrives over the event stream
    _line(
        "IsRevoked after the platform revoked it",
        await stub.IsRevoked(pb.IsRevokedRequest(session_token=session, phone=PHONE)),
    )

    print("\nOne-time approval for a risky action:", flush=True)
    bound = (await post("/_control/platform/sessions", {"phone": PHONE}))["session_token"]
    approval = (
        await post("/_control/platform/approvals", {"phone": PHONE, "action": "transfer", "session_token": bound})
    )["approval_token"]
    request = pb.VerifyApprovalRequest(approval_token=approval, phone=PHONE)
    _line("VerifyApproval", await stub.VerifyApproval(request))
    _line("VerifyApproval replayed", await stub.VerifyApproval(request))

    print("\nJWT from the platform's issuer (ES256 via JWKS):", flush=True)
    minted = await post("/_control/jwks/issuers/main/mint", {"claims": {"sub": "user-42", "scope": "read write"}})
    token_request = pb.VerifyTokenRequest(token=minted["token"], required_scopes=["read"])
    _line("VerifyToken", await stub.VerifyToken(token_request))
    _line("VerifyToken again", await stub.VerifyToken(token_request))
    _line(
        "VerifyToken needing scope admin",
        await stub.VerifyToken(pb.VerifyTokenRequest(token=minted["token"], required_scopes=["admin"])),
    )

    print("\nStep-up challenge:", flush=True)
    user, key = f"usr_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await post("/_control/challenges/users", {"userId": user, "verificationMethod": "SMS"})
    _line("Track withdrawal", await stub.Track(pb.TrackRequest(user_id=user, action="withdrawal", idempotency_key=key)))
    token = (
        await post("/_control/challenges/complete", {"userId": user, "action": "withdrawal", "idempotencyKey": key})
    )["token"]
    check = pb.ValidateChallengeRequest(token=token, user_id=user, action="withdrawal")
    _line("ValidateChallenge after the user passed it", await stub.ValidateChallenge(check))
    _line("ValidateChallenge replayed", await stub.ValidateChallenge(check))

    fresh = (await post("/_control/platform/sessions", {"phone": PHONE}))["session_token"]
    return [
        f"VerifySession session_token={fresh} phone={PHONE}",
        f"IsRevoked session_token={fresh} phone={PHONE}",
        f"VerifyToken token={minted['token']}",
        "CheckUpstreamHealth",
    ]


async def _factors_walkthrough(emu: httpx.AsyncClient, ch) -> None:
    """Second factors (Authy-style) and account flows (identity service)."""
    factors, accounts = factors_pb2_grpc.SecondFactorServiceStub(ch), factors_pb2_grpc.AccountServiceStub(ch)
    print("\nSecond factor (TOTP, push approval, phone verification):", flush=True)
    user = (
        await factors.RegisterUser(fpb.RegisterUserRequest(email="demo@example.com", country="US", phone="2015550123"))
    ).user_id
    code = (await emu.get(f"/_control/authy/users/{user}/totp")).json()["code"]
    totp = fpb.VerifyTotpRequest(user_id=user, code=code)
    _line("VerifyTotp", await factors.VerifyTotp(totp))
    _line("VerifyTotp replayed", await factors.VerifyTotp(totp))
    approval = (
        await factors.CreateApprovalRequest(
            fpb.CreateApprovalRequestRequest(user_id=user, message="Log in to the demo?", ttl_seconds=60)
        )
    ).id
    (await emu.post(f"/_control/authy/approvals/{approval}", json={"status": "approved"})).raise_for_status()
    _line(
        "GetApprovalRequest after the user approved",
        await factors.GetApprovalRequest(fpb.GetApprovalRequestRequest(id=approval)),
    )
    await factors.StartPhoneVerification(fpb.StartPhoneVerificationRequest(country="US", phone="2015550123"))
    sent = (await emu.get("/_control/authy/phones/last")).json()["code"]
    _line(
        "CheckPhoneVerification",
        await factors.CheckPhoneVerification(
            fpb.CheckPhoneVerificationRequest(country="US", phone="2015550123", code=sent)
        ),
    )

    print("\nAccounts (InAI wire; logout revokes the tokens it handed out at once):", flush=True)
    login = await accounts.Login(fpb.LoginRequest(email="alice@example.com", password="correct horse battery staple"))
    print(f"  {'Login alice@example.com':<58} → access token expires_in={login.tokens.expires_in}", flush=True)
    await accounts.Logout(fpb.LogoutRequest(refresh_token=login.tokens.refresh_token))
    print(f"  {'Logout':<58} → done (VerifyToken now answers REVOKED for that token)", flush=True)

    print("\nApp-user flows (registration, email verification, a password reset, an email change):", flush=True)
    await _account_flows_walkthrough(emu, accounts)


def _spare_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


async def _verify_walkthrough(server, emu: httpx.AsyncClient) -> None:
    """The same SecondFactorService on Twilio Verify v2 (`second_factors.provider: verify`): a second
    sidecar in this process, its verify section pointed at the emulator's Twilio area."""
    from sidecar.runtime.server import Server  # noqa: PLC0415 (server imports nothing of the demo; one-way)

    s = server.settings  # already pointed at the embedded emulator, verify section included
    settings = dataclasses.replace(
        s,
        listen=[_spare_address()],
        ops_listen=_spare_address(),
        shutdown_grace_seconds=1.0,
        emulator=dataclasses.replace(s.emulator, mode="off"),
        second_factors=dataclasses.replace(s.second_factors, provider="verify"),
    )
    verify = Server(settings)
    await verify.start()
    try:
        print("\nSecond factor on Twilio Verify v2 (a second sidecar with provider: verify):", flush=True)
        async with grpc.aio.insecure_channel(settings.listen[0]) as ch:
            factors = factors_pb2_grpc.SecondFactorServiceStub(ch)
            await factors.StartPhoneVerification(fpb.StartPhoneVerificationRequest(country="US", phone="2015550123"))
            sent = (await emu.get("/_control/twilio-verify/verifications/last")).json()["code"]
            check = fpb.CheckPhoneVerificationRequest(country="US", phone="2015550123", code=sent)
            wrong = fpb.CheckPhoneVerificationRequest(
                country="US", phone="2015550123", code=str((int(sent) + 1) % 10 ** len(sent)).zfill(len(sent))
            )
            _line("Verify: CheckPhoneVerification with a wrong code", await factors.CheckPhoneVerification(wrong))
            _line("Verify: CheckPhoneVerification", await factors.CheckPhoneVerification(check))
            _line("Verify: CheckPhoneVerification replayed", await factors.CheckPhoneVerification(check))
    finally:
        await verify.stop()


def _said(label: str, text: str) -> None:
    print(f"  {label:<58} → {text}", flush=True)


async def _refused(label: str, call) -> None:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        _said(label, f"{exc.code().name}: {exc.details()}")
    else:
        _said(label, "answered (unexpected)")


async def _account_flows_walkthrough(emu: httpx.AsyncClient, accounts) -> None:
    """InAI's register, verifyEmail, forgotPassword and resetPassword through the sidecar; the email
    change is the identity microservice's call, so this InAI-speaking sidecar answers UNIMPLEMENTED."""
    email = f"demo-{uuid.uuid4().hex[:8]}@example.com"
    registered = await accounts.Register(fpb.RegisterRequest(email=email, password="first pass 1", first_name="Demo"))
    _said(f"Register {email}", f"user_id={registered.user_id} expires_in={registered.tokens.expires_in}")

    async def mailed(kind: str) -> str:
        return (await emu.get("/_control/inai/mail", params={"email": email})).json()[kind]

    verify = fpb.VerifyEmailRequest(token=await mailed("verify"))
    _said("VerifyEmail with the mailed token", (await accounts.VerifyEmail(verify)).message)
    await _refused("VerifyEmail replayed", accounts.VerifyEmail(verify))
    await accounts.ForgotPassword(fpb.ForgotPasswordRequest(email=email))
    reset = fpb.ResetPasswordRequest(token=await mailed("reset"), new_password="second pass 2", email=email)
    done = await accounts.ResetPassword(reset)
    _said("ResetPassword with the mailed token", f"{done.message}; revoked_tokens={done.revoked_tokens}")
    await _refused("ResetPassword replayed", accounts.ResetPassword(reset))
    await _refused(
        "ConfirmEmailChange (an identity-service call)",
        accounts.ConfirmEmailChange(
            fpb.ConfirmEmailChangeRequest(access_token=registered.tokens.access_token, email=email, token="ec_demo")
        ),
    )
