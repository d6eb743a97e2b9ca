// Drives authy-client@1.1.4 (installed from npm) against the emulator's /authy area through the SDK's own
// `host` option, every call the sidecar relies on plus the calls the seed README shows. Prints one JSON line:
// {operation: {ok, result | error}} in call order, the SDK's parsed results as it returns them.
//   node sdk.js <emulator-url> <api-key>
'use strict';

const Client = require('authy-client').Client;

const [emulator, key] = process.argv.slice(2);
const client = new Client({ key }, { host: `${emulator}/authy`, timeout: 10000 });
const PHONE = { countryCode: 'US', phone: '(201) 555-0123' };
const CALLBACK_URL = 'https://app.example.com/authy/callback?source=onetouch';
const CALLBACK_BODY = {
  approval_request: {
    expiration_timestamp: 1455911778,
    logos: null,
    transaction: {
      created_at_time: 1455825378, details: { 'Account Number': '98 12', Zone: 'EU' }, device_details: null,
      encrypted: false, hidden_details: {}, message: 'Login to Bank of Example',
      logos: [{ res: 'default', url: 'https://example.com/a b.png' }], status: 'approved', uuid: 'u-1'
    }
  },
  authy_id: 1635, callback_action: 'approval_request_status', device_uuid: 'd-1', signature: 'sig',
  status: 'approved', uuid: 'u-1'
};

const results = {};

async function step(name, call) {
  try {
    results[name] = { ok: true, result: await call() };
  } catch (e) {
    results[name] = { ok: false, error: { name: e.name, message: e.message, code: e.code, body: e.body,
                                          errors: e.errors ? JSON.parse(JSON.stringify(e.errors)) : undefined } };
  }
  return results[name].ok ? results[name].result : undefined;
}

async function control(method, path, body) {
  const response = await fetch(`${emulator}/_control/authy${path}`, {
    method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined
  });
  return response.json();
}

// An Express-style request as an app's callback route receives it (what verifyCallback takes).
function callbackRequest(signed, body) {
  const url = new URL(CALLBACK_URL);
  return {
    body, method: 'POST', protocol: url.protocol.replace(':', ''), url: url.pathname + url.search,
    headers: { host: url.host, 'x-authy-signature': signed.signature, 'x-authy-signature-nonce': signed.nonce }
  };
}

async function main() {
  const user = await step('registerUser', () => client.registerUser({ ...PHONE, email: 'sdk@example.com' }));
  const authyId = user && user.user.id;
  await step('getUserStatus', () => client.getUserStatus({ authyId }));
  const { code } = await control('GET', `/users/${authyId}/totp`);
  await step('verifyToken', () => client.verifyToken({ authyId, token: code }));
  await step('verifyTokenForced', () => client.verifyToken({ authyId, token: code }, { force: true }));
  await step('verifyTokenWrong', () => client.verifyToken({ authyId, token: '0000000' }));
  await step('requestSms', () => client.requestSms({ authyId }, { action: 'login', message: 'Your code' }));
  await step('requestCall', () => client.requestCall({ authyId }, { force: true }));
  await control('POST', `/users/${authyId}/app`, { installed: true });
  await step('requestSmsIgnored', () => client.requestSms({ authyId }));
  const created = await step('createApprovalRequest', () => client.createApprovalRequest({
    authyId, message: 'Login to Bank?',
    details: { visible: { 'Account Number': '981266321' }, hidden: { ip: '10.0.0.1' } }
  }, { ttl: 120 }));
  await step('getApprovalRequest', () => client.getApprovalRequest({ id: created.approval_request.uuid }));
  await control('POST', `/approvals/${created.approval_request.uuid}`, { status: 'approved' });
  await step('getApprovalRequestApproved', () => client.getApprovalRequest({ id: created.approval_request.uuid }));
  await step('startPhoneVerification', () => client.startPhoneVerification({ ...PHONE, via: 'sms' }, { locale: 'en' }));
  const sent = await control('GET', '/phones/last');
  await step('verifyPhone', () => client.verifyPhone({ ...PHONE, token: sent.code }));
  await step('getApplicationDetails', () => client.getApplicationDetails());
  await step('getApplicationStatistics', () => client.getApplicationStatistics());
  await step('getPhoneInformation', () => client.getPhoneInformation(PHONE));
  await step('registerActivity', () => client.registerActivity(
    { authyId, data: { reason: 'Too many logins' }, type: 'banned' }, { ip: '86.112.56.34' }));
  const signed = await control('POST', '/callback', { url: CALLBACK_URL, params: CALLBACK_BODY });
  await step('verifyCallback', async () => {
    await client.verifyCallback(callbackRequest(signed, CALLBACK_BODY));
    return { nonce: signed.nonce, signature: signed.signature };
  });
  await step('verifyCallbackTampered', () => client.verifyCallback(
    callbackRequest(signed, { ...CALLBACK_BODY, status: 'denied' })));
  await step('deleteUser', () => client.deleteUser({ authyId }));
  await step('getUserStatusDeleted', () => client.getUserStatus({ authyId }));
  console.log(JSON.stringify(results));
}

main().catch((e) => { console.log(JSON.stringify({ crashed: String(e && e.stack || e) })); process.exit(1); });
