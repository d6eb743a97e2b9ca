// Drives @inai-dev/backend's platform-administration calls (platformLogin … rotateAppKeys) against the
// emulator through apiUrl and prints one JSON line: each call's parsed result (or the InAIAuthError).
// Usage: node platform.js <emulator url>
"use strict";

const { InAIAuthClient, InAIAuthError } = require("@inai-dev/backend");

const [emulator] = process.argv.slice(2);
const PASSWORD = "correct horse battery staple";

async function outcome(call) {
  try {
    const value = await call();
    return { ok: true, value: value === undefined ? null : value };
  } catch (err) {
    if (!(err instanceof InAIAuthError)) throw err;
    return { ok: false, error: { name: err.name, status: err.status, message: err.message } };
  }
}

async function main() {
  // The publishable key is set as a service would have it: the SDK must still not send it on /api/platform.
  const client = new InAIAuthClient({ apiUrl: `${emulator}/inai`, publishableKey: "pk_any" });
  const out = {};
  out.login = await outcome(() => client.platformLogin({ email: "root@example.com", password: PASSWORD }));
  const token = out.login.value.access_token;
  out.mfaLogin = await outcome(() => client.platformLogin({ email: "mfa-root@example.com", password: PASSWORD }));
  const { code } = await (await fetch(`${emulator}/_control/inai/platform/mfa-code?email=mfa-root@example.com`)).json();
  out.mfaChallenge = await outcome(() => client.platformMfaChallenge({ mfa_token: out.mfaLogin.value.mfa_token, code }));
  out.refresh = await outcome(() => client.platformRefresh(out.login.value.refresh_token));
  out.getMe = await outcome(() => client.platformGetMe(token));
  out.listApplications = await outcome(() => client.listApplications(token));
  const slug = `sdk-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  out.createApplication = await outcome(() => client.createApplication(token, { name: "SDK app", slug }));
  const appId = out.createApplication.value.data.id;
  out.getApplication = await outcome(() => client.getApplication(token, appId));
  out.updateApplication = await outcome(() => client.updateApplication(token, appId, { name: "Renamed" }));
  out.getApplicationStats = await outcome(() => client.getApplicationStats(token, appId));
  out.createAppUser = await outcome(() => client.createAppUser(token, appId,
    { email: "made@example.com", password: "p4ssword!", environmentId: "env_emulator" }));
  out.listAppUsers = await outcome(() => client.listAppUsers(token, appId,
    { environmentId: "env_emulator", page: 1, limit: 10 }));
  out.createAppApiKey = await outcome(() => client.createAppApiKey(token, appId, "ci", "env_emulator"));
  out.listAppApiKeys = await outcome(() => client.listAppApiKeys(token, appId, "env_emulator"));
  out.revokeAppApiKey = await outcome(() => client.revokeAppApiKey(token, appId, out.createAppApiKey.value.data.id));
  out.revokeAgain = await outcome(() => client.revokeAppApiKey(token, appId, out.createAppApiKey.value.data.id));
  out.rotateAppKeys = await outcome(() => client.rotateAppKeys(token, appId, "env_emulator"));
  out.getUnknown = await outcome(() => client.getApplication(token, "app_nope"));
  out.logout = await outcome(() => client.platformLogout(token));
  out.meAfterLogout = await outcome(() => client.platformGetMe(token));
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.log(JSON.stringify({ crashed: String(err && err.stack || err) }));
  process.exit(1);
});
