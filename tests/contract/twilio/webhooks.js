// The twilio@6.3.1 SDK's own webhook validators (lib/webhooks/webhooks.js) on signed requests the test hands
// in: validateRequest for form bodies, validateRequestWithBody for JSON bodies (bodySHA256 in the URL).
//   node webhooks.js <auth-token> '<json list of {name, kind: "form"|"json", url, signature, params|body}>'
// Prints one JSON line {name: true|false}.
'use strict';

const twilio = require('twilio');

const [authToken, casesJson] = process.argv.slice(2);
const results = {};
for (const c of JSON.parse(casesJson)) {
  results[c.name] = c.kind === 'json'
    ? twilio.validateRequestWithBody(authToken, c.signature, c.url, c.body)
    : twilio.validateRequest(authToken, c.signature, c.url, c.params);
}
console.log(JSON.stringify(results));
