// Checks signed callbacks with authy-client@1.1.4's own verifyCallback (its Signature assert), and sorts
// keys with the comparator it uses (localeCompare). Input: a JSON file
//   {key, callbacks: [{body, url, nonce, signature}], keys: [..]}
// Output: {accepted: [true|false per callback], sorted: [keys as localeCompare sorts them]}.
//   node callbacks.js <input.json>
'use strict';

const fs = require('fs');
const Client = require('authy-client').Client;

const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const client = new Client({ key: input.key });

async function accepted(callback) {
  const url = new URL(callback.url);
  try {
    await client.verifyCallback({
      body: callback.body, method: 'POST', protocol: url.protocol.replace(':', ''), url: url.pathname + url.search,
      headers: { host: url.host, 'x-authy-signature': callback.signature, 'x-authy-signature-nonce': callback.nonce }
    });
    return true;
  } catch (e) {
    // Only a signature mismatch counts as "not accepted"; a body the SDK refuses for other reasons is a test bug.
    if (!(e.errors && e.errors.headers && e.errors.headers['x-authy-signature'] && !e.errors.body)) {
      throw new Error(`verifyCallback refused for another reason: ${JSON.stringify(e.errors || e.message)}`);
    }
    return false;
  }
}

async function main() {
  const results = [];
  for (const callback of input.callbacks) {
    results.push(await accepted(callback));
  }
  const sorted = [...input.keys].sort((a, b) => a.localeCompare(b));
  console.log(JSON.stringify({ accepted: results, sorted }));
}

main().catch((e) => { console.log(JSON.stringify({ crashed: String(e && e.stack || e) })); process.exit(1); });
