// Drives the real @inai-dev/backend SDK against the emulator through its own base-URL option (apiUrl)
// and prints one JSON line: each call's parsed result (or the InAIAuthError it threw).
// Usage: node drive.js <emulator url> <publishable key>
"use strict";

const { InAIAuthClient, InAIAuthError, buildAuthObjectFromToken } = require("@inai-dev/backend");
const { JWKSClient } = require("@inai-dev/shared");

const [emulator, publishableKey] = process.argv.slice(2);
const apiUrl = `${emulator}/inai`;
const PASSWORD = "correct horse battery staple";

async function outcome(call) {
  try {
    const value = await call();
    return { ok: true, value: value === undefined ? null : value };
  } catch (err) {
    if (!(err instanceof InAIAuthError)) throw err;
    return { ok: false, error: { name: err.name, status: err.status, message: err.message, body: err.body } };
  }
}

async function control(path) {
  const res = await fetch(`${emulator}${path}`);
  return res.json();
}

function described(auth) {
  if (auth === null) return null;
  const { userId, tenantId, appId, envId, orgId, sessionId, roles, permissions } = auth;
  return { userId, tenantId, appId, envId, orgId, sessionId, roles, permissions,
           hasMember: auth.has({ role: "member" }), hasAdmin: auth.has({ role: "admin" }) };
}

async function main() {
  const client = new InAIAuthClient({ apiUrl, publishableKey });
  const jwks = new JWKSClient(`${apiUrl}/.well-known/jwks.json`);
  const out = {};

  out.login = await outcome(() => client.login({ email: "alice@example.com", password: PASSWORD }));
  const first = out.login.value;
  out.verify = described(await buildAuthObjectFromToken(first.access_token, jwks));
  const foreign = await (await fetch(`${emulator}/_control/jwks/issuers/main/mint`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ claims: { iss: null } }),
  })).json();
  out.verifyForeign = described(await buildAuthObjectFromToken(foreign.token, jwks));
  const [h, p, s] = first.access_token.split(".");
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url")), sub: "usr_bob" }));
  out.verifyForged = described(await buildAuthObjectFromToken(`${h}.${forged.toString("base64url")}.${s}`, jwks));

  out.getMe = await outcome(() => client.getMe(first.access_token));
  const before = (await client.listSessions(first.access_token)).data.map((x) => x.id);
  const second = (await client.login({ email: "alice@example.com", password: PASSWORD }));
  out.listSessions = await outcome(() => client.listSessions(first.access_token));
  out.refresh = await outcome(() => client.refresh(first.refresh_token));
  out.refreshReplayed = await outcome(() => client.refresh(first.refresh_token));

  out.mfaLogin = await outcome(() => client.login({ email: "bob@example.com", password: PASSWORD }));
  const { code } = await control("/_control/inai/mfa-code?email=bob@example.com");
  const wrong = String((Number(code) + 1) % 1e6).padStart(6, "0");
  out.mfaWrong = await outcome(() => client.mfaChallenge({ mfa_token: out.mfaLogin.value.mfa_token, code: wrong }));
  out.mfaChallenge = await outcome(() => client.mfaChallenge({ mfa_token: out.mfaLogin.value.mfa_token, code }));

  const secondId = out.listSessions.value.data.map((x) => x.id).find((id) => !before.includes(id)) ?? null;
  out.secondSessionId = secondId;
  out.revokeSession = await outcome(() => client.revokeSession(first.access_token, secondId));
  out.revokeAgain = await outcome(() => client.revokeSession(first.access_token, secondId));
  out.secondAfterRevoke = await outcome(() => client.getMe(second.access_token));

  const rotated = out.refresh.value;
  out.logout = await outcome(() => client.logout(rotated.refresh_token));
  out.meAfterLogout = await outcome(() => client.getMe(rotated.access_token));

  out.badPassword = await outcome(() => client.login({ email: "alice@example.com", password: "nope" }));
  const keyless = new InAIAuthClient({ apiUrl, publishableKey: "pk_wrong" });
  out.badKey = await outcome(() => keyless.login({ email: "alice@example.com", password: PASSWORD }));

  // The seed README's other app-user calls, on a fresh user (the emulator is shared by the test session).
  const email = `carol-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  out.register = await outcome(() => client.register({ email, password: "first pass 1", firstName: "Carol" }));
  out.registerAgain = await outcome(() => client.register({ email, password: "first pass 1" }));
  const mailed = () => control(`/_control/inai/mail?email=${encodeURIComponent(email)}`);
  const { verify } = await mailed();
  out.verifyEmail = await outcome(() => client.verifyEmail(verify));
  out.verifyEmailAgain = await outcome(() => client.verifyEmail(verify));
  const carol = out.register.value.access_token;
  out.setOrganization = await outcome(() => client.setActiveOrganization(carol, "org_emulator"));
  out.organizationAuth = described(await buildAuthObjectFromToken(out.setOrganization.value.access_token, jwks));
  out.setUnknownOrganization = await outcome(() => client.setActiveOrganization(carol, "org_nope"));
  out.clearOrganization = await outcome(() => client.setActiveOrganization(carol, null));
  out.forgotPassword = await outcome(() => client.forgotPassword(email));
  out.forgotUnknown = await outcome(() => client.forgotPassword("nobody@example.com"));
  const { reset } = await mailed();
  out.resetPassword = await outcome(() => client.resetPassword(reset, "second pass 2"));
  out.resetReplayed = await outcome(() => client.resetPassword(reset, "third pass 3"));
  out.meAfterReset = await outcome(() => client.getMe(out.clearOrganization.value.access_token));
  out.loginOldPassword = await outcome(() => client.login({ email, password: "first pass 1" }));
  out.loginNewPassword = await outcome(() => client.login({ email, password: "second pass 2" }));
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.log(JSON.stringify({ crashed: String(err && err.stack || err) }));
  process.exit(1);
});
