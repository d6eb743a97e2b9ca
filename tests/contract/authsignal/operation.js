// One @authsignal/node call against the emulator, so its request can be set beside the sidecar's
// for the same operation. Usage: node operation.js <emulator url> <secret key> <method> '<json request>'
// Prints {ok, value} or {ok: false, statusCode, errorCode}.
"use strict";
const { Authsignal } = require("@authsignal/node");

const [emulatorUrl, secretKey, method, request] = process.argv.slice(2);
const authsignal = new Authsignal({ apiSecretKey: secretKey, apiUrl: `${emulatorUrl}/v1` });

authsignal[method](JSON.parse(request))
  .then((value) => console.log(JSON.stringify({ ok: true, value: value === undefined ? null : value })))
  .catch((err) => console.log(JSON.stringify({ ok: false, statusCode: err.statusCode, errorCode: err.errorCode })));
