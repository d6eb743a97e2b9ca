// Drives the published @authsignal/node SDK against the emulator through the SDK's own base-URL
// option (`apiUrl`) and prints one JSON line: every call's parsed result (or the AuthsignalError's
// statusCode / errorCode). Usage: node drive.js <emulator url> <secret key> <run id>
// The calls are those the sidecar relies on (upstream/authsignal.py) plus those seed README 001 shows,
// written as @authsignal/node 2.21.0 takes them (apiSecretKey / apiUrl / attributes, per its types).
"use strict";
const { Authsignal } = require("@authsignal/node");

const [emulatorUrl, secretKey, runId] = process.argv.slice(2);
const apiUrl = `${emulatorUrl}/v1`;
const authsignal = new Authsignal({ apiSecretKey: secretKey, apiUrl });
const stranger = new Authsignal({ apiSecretKey: "not-the-secret-key", apiUrl });

async function outcome(call) {
  try {
    return { ok: true, value: await call() };
  } catch (err) {
    return { ok: false, name: err.name, statusCode: err.statusCode, errorCode: err.errorCode,
             errorDescription: err.errorDescription };
  }
}

// The user finishing the challenge in the pre-built UI is the emulator's control endpoint.
async function completeChallenge(userId, action, idempotencyKey) {
  const reply = await fetch(`${emulatorUrl}/_control/challenges/complete`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userId, action, idempotencyKey, verificationMethod: "SMS" }),
  });
  return (await reply.json()).token;
}

async function main() {
  const userId = `usr_${runId}`;
  const fresh = `usr_${runId}_new`;
  const action = "withdrawal";
  const out = {};
  out.getUserUnknown = await outcome(() => authsignal.getUser({ userId: fresh }));
  out.trackUnenrolled = await outcome(() => authsignal.track({ userId: fresh, action: "signIn" }));
  out.enroll = await outcome(() => authsignal.enrollVerifiedAuthenticator({
    userId, attributes: { verificationMethod: "SMS", phoneNumber: "+64271234567" } }));
  out.getUser = await outcome(() => authsignal.getUser({ userId }));
  out.track = await outcome(() => authsignal.track({
    userId, action, attributes: { redirectUrl: "https://example.com/finalize-withdrawal",
                                  idempotencyKey: `ik_${runId}` } }));
  const { token: pendingToken, idempotencyKey } = out.track.value || {};
  out.getActionPending = await outcome(() => authsignal.getAction({ userId, action, idempotencyKey }));
  out.validateUnfinished = await outcome(() => authsignal.validateChallenge({ token: pendingToken }));
  const doneToken = await completeChallenge(userId, action, idempotencyKey);
  out.validateOtherUser = await outcome(() => authsignal.validateChallenge({ token: doneToken, userId: fresh }));
  out.validate = await outcome(() => authsignal.validateChallenge({ token: doneToken, userId, action }));
  out.validateReplayed = await outcome(() => authsignal.validateChallenge({ token: doneToken, userId, action }));
  out.getActionDone = await outcome(() => authsignal.getAction({ userId, action, idempotencyKey }));
  out.validateUnknownToken = await outcome(() => authsignal.validateChallenge({ token: "chl_never_issued" }));
  out.wrongKey = await outcome(() => stranger.getUser({ userId }));
  out.getActionUnknown = await outcome(() => authsignal.getAction({ userId, action, idempotencyKey: "ik_none" }));
  out.enrollBad = await outcome(() => authsignal.enrollVerifiedAuthenticator({
    userId, attributes: { verificationMethod: "SMS" } }));
  console.log(JSON.stringify(out));
}

main().catch((err) => { console.error(err); process.exit(1); });
