// Drives twilio@6.3.1 (installed from npm) against the emulator's /twilio-verify area through the SDK's own
// domain base URL (`client.verify.baseUrl`, lib/base/Domain.js; region and edge left unset), every Verify v2
// operation the sidecar uses. Prints one JSON line: {step: {ok, result | error}}, the SDK's parsed results.
// TOTP codes are computed here, by hand from RFC 6238, from the secret the factor's binding returned.
//   node drive.js <emulator-url> <account-sid> <auth-token> <api-key-sid> <api-key-secret> <service-sid>
'use strict';

const crypto = require('crypto');
const twilio = require('twilio');

const [emulator, accountSid, authToken, keySid, keySecret, serviceSid] = process.argv.slice(2);
const BASE = `${emulator}/twilio-verify`;
const results = {};

function client(user, pass, opts) {
  const c = twilio(user, pass, { ...(opts || {}), autoRetry: false });
  c.verify.baseUrl = BASE;
  return c;
}

async function step(name, call) {
  try {
    const value = await call();
    results[name] = { ok: true, result: JSON.parse(JSON.stringify(value && value.toJSON ? value.toJSON() : value)) };
  } catch (e) {
    results[name] = { ok: false, error: { name: e.name, status: e.status, code: e.code, message: e.message,
                                          moreInfo: e.moreInfo } };
  }
  return results[name].ok ? results[name].result : undefined;
}

async function control(method, path, body) {
  const response = await fetch(`${emulator}/_control/twilio-verify${path}`, {
    method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined
  });
  return response.json();
}

function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of text.replace(/=+$/, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

// RFC 6238: HOTP (RFC 4226) of the time step; `ahead` steps from now.
function totp(secret, ahead, { time_step: period, code_length: digits, alg }) {
  const counter = Math.floor(Date.now() / 1000 / period) + ahead;
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac(alg, base32(secret)).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(number % 10 ** digits).padStart(digits, '0');
}

async function main() {
  const verify = client(accountSid, authToken).verify.v2.services(serviceSid);
  const PHONE = '+14155550101';

  // Verifications and checks
  const started = await step('createVerification', () => verify.verifications.create({ to: PHONE, channel: 'sms', locale: 'en' }));
  const sent = await control('GET', `/verifications/${started.sid}`);
  await step('fetchVerification', () => verify.verifications(started.sid).fetch());
  await step('resend', () => verify.verifications.create({ to: PHONE, channel: 'call' }));
  const wrong = sent.code === '000000' ? '111111' : '000000';
  await step('checkWrong', () => verify.verificationChecks.create({ to: PHONE, code: wrong }));
  await step('checkRight', () => verify.verificationChecks.create({ to: PHONE, code: sent.code }));
  await step('checkAgain', () => verify.verificationChecks.create({ verificationSid: started.sid, code: sent.code }));
  await step('fetchApproved', () => verify.verifications(started.sid).fetch());

  const email = await step('createEmail', () => verify.verifications.create({ to: 'sdk@example.com', channel: 'email' }));
  await step('cancel', () => verify.verifications(email.sid).update({ status: 'canceled' }));
  await step('checkCanceled', () => verify.verificationChecks.create({ verificationSid: email.sid, code: '123456' }));
  const wa = await step('createWhatsapp', () => verify.verifications.create({ to: '+14155550102', channel: 'whatsapp', customCode: '8642' }));
  await step('approveByUpdate', () => verify.verifications(wa.sid).update({ status: 'approved' }));

  await step('createForAttempts', () => verify.verifications.create({ to: '+14155550103', channel: 'sms' }));
  for (let i = 1; i <= 6; i++) {
    await step(`attempt${i}`, () => verify.verificationChecks.create({ to: '+14155550103', code: '0000' }));
  }
  for (let i = 1; i <= 6; i++) {
    await step(`send${i}`, () => verify.verifications.create({ to: '+14155550104', channel: 'sms' }));
  }
  await step('badChannel', () => verify.verifications.create({ to: PHONE, channel: 'pigeon' }));
  await step('badTo', () => verify.verifications.create({ to: '4155550101', channel: 'sms' }));
  await step('unknownVerification', () => verify.verifications('VE' + '0'.repeat(32)).fetch());

  await control('POST', '/faults', { rate_limited: 1, retry_after: 7 });
  await step('rateLimited', () => verify.verifications.create({ to: '+14155550105', channel: 'sms' }));
  await control('POST', '/faults', { concurrent_limited: 1 });
  await step('concurrentLimited', () => verify.verifications.create({ to: '+14155550105', channel: 'sms' }));

  const once = await step('createNotOneTime', () => verify.verifications.create({ to: '+14155550106', channel: 'sms' }));
  const onceCode = (await control('GET', `/verifications/${once.sid}`)).code;
  await step('notOneTimeFirst', () => verify.verificationChecks.create({ to: '+14155550106', code: onceCode }));
  await control('POST', '/faults', { not_one_time: true });
  await step('notOneTimeAgain', () => verify.verificationChecks.create({ verificationSid: once.sid, code: onceCode }));
  await control('POST', '/faults', { not_one_time: false });
  await step('oneTimeAgain', () => verify.verificationChecks.create({ verificationSid: once.sid, code: onceCode }));

  // TOTP factors and challenges
  const IDENTITY = 'node-sdk-user-0001';
  const entity = verify.entities(IDENTITY);
  const factor = await step('createTotpFactor', () => entity.newFactors.create({ friendlyName: 'Node phone', factorType: 'totp' }));
  const cfg = factor.config;
  await step('verifyFactorWrong', () => entity.factors(factor.sid).update({ authPayload: '000000' === totp(factor.binding.secret, 0, cfg) ? '111111' : '000000' }));
  await step('verifyFactor', () => entity.factors(factor.sid).update({ authPayload: totp(factor.binding.secret, 0, cfg) }));
  await step('fetchFactor', () => entity.factors(factor.sid).fetch());
  const next = totp(factor.binding.secret, 1, cfg);
  await step('totpChallenge', () => entity.challenges.create({ factorSid: factor.sid, authPayload: next }));
  await step('totpChallengeReplay', () => entity.challenges.create({ factorSid: factor.sid, authPayload: next }));

  const second = await step('createTotpFactor2', () => entity.newFactors.create({
    friendlyName: 'Node tablet', factorType: 'totp', 'config.codeLength': 8, 'config.alg': 'sha256', 'config.timeStep': 30 }));
  await step('verifyFactor2', () => entity.factors(second.sid).update({ authPayload: totp(second.binding.secret, 0, second.config) }));
  const pending = await step('totpChallengeNoPayload', () => entity.challenges.create({ factorSid: second.sid }));
  await step('totpChallengeUpdate', () => entity.challenges(pending.sid).update({ authPayload: totp(second.binding.secret, 1, second.config) }));
  await step('fetchTotpChallenge', () => entity.challenges(pending.sid).fetch());

  // Push
  const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const push = await step('createPushFactor', () => entity.newFactors.create({
    friendlyName: 'Node push', factorType: 'push', 'binding.alg': 'ES256', 'binding.publicKey': der,
    'config.appId': 'com.example.app', 'config.notificationPlatform': 'fcm',
    'config.notificationToken': 'x'.repeat(40), 'config.sdkVersion': '1.0.0', metadata: { os: 'Android' } }));
  await step('pushChallengeUnverified', () => entity.challenges.create({ factorSid: push.sid, 'details.message': 'Log in?' }));
  await control('POST', `/factors/${push.sid}/verify`);
  await step('fetchPushFactor', () => entity.factors(push.sid).fetch());
  const expiry = new Date(Date.now() + 10 * 60 * 1000);
  const pc = await step('pushChallenge', () => entity.challenges.create({
    factorSid: push.sid, 'details.message': 'Log in to Example?',
    'details.fields': [{ label: 'Action', value: 'Sign in' }, { label: 'IP', value: '203.0.113.9' }],
    hiddenDetails: { ip: '203.0.113.9' }, expirationDate: expiry }));
  await step('fetchPushPending', () => entity.challenges(pc.sid).fetch());
  await control('POST', `/challenges/${pc.sid}`, { status: 'approved' });
  await step('fetchPushApproved', () => entity.challenges(pc.sid).fetch());
  const denied = await step('pushChallenge2', () => entity.challenges.create({ factorSid: push.sid, 'details.message': 'Pay?' }));
  await control('POST', `/challenges/${denied.sid}`, { status: 'denied' });
  await step('fetchPushDenied', () => entity.challenges(denied.sid).fetch());
  const late = await step('pushChallenge3', () => entity.challenges.create({ factorSid: push.sid, 'details.message': 'Late?' }));
  await control('POST', `/challenges/${late.sid}`, { status: 'expired' });
  await step('fetchPushExpired', () => entity.challenges(late.sid).fetch());
  await step('pushChallengeTooLong', () => entity.challenges.create({
    factorSid: push.sid, 'details.message': 'Later?', expirationDate: new Date(Date.now() + 2 * 3600 * 1000) }));

  const token = await step('createAccessToken', () => verify.accessTokens.create({
    identity: IDENTITY, factorType: 'push', factorFriendlyName: 'Node push', ttl: 300 }));
  await step('fetchAccessToken', () => verify.accessTokens(token.sid).fetch());
  await step('deleteFactor', () => entity.factors(push.sid).remove());
  await step('fetchDeletedFactor', () => entity.factors(push.sid).fetch());

  // What the sidecar reads and removes: the entity's factors (a page at a time), the entity, the service.
  await step('listFactors', () => entity.factors.list());
  await step('listFactorsPaged', () => entity.factors.list({ pageSize: 1 }));
  await step('fetchEntity', () => entity.fetch());
  await step('fetchService', () => verify.fetch());
  await step('deleteEntity', () => entity.remove());
  await step('fetchDeletedEntity', () => entity.fetch());
  await step('listDeletedEntity', () => entity.factors.list());
  await step('deleteDeletedEntity', () => entity.remove());

  // Credentials and service
  await step('apiKeyAuth', () => client(keySid, keySecret, { accountSid }).verify.v2.services(serviceSid).verifications(started.sid).fetch());
  await step('wrongToken', () => client(accountSid, 'wrong-token').verify.v2.services(serviceSid).verifications(started.sid).fetch());
  await step('unknownService', () => client(accountSid, authToken).verify.v2.services('VA' + '0'.repeat(32)).verifications(started.sid).fetch());
  await step('fetchUnknownService', () => client(accountSid, authToken).verify.v2.services('VA' + '0'.repeat(32)).fetch());
}

main()
  .catch((e) => { results.crashed = String(e && e.stack || e); })
  .finally(() => console.log(JSON.stringify(results)));
