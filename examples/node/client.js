#!/usr/bin/env node
// Call the authsidecar from Node with @authsidecar/client (clients/node: the typed client, its
// VerifyStream multiplexer and retries, and Express middleware).
//
//   npm install            # in this folder: installs ../../clients/node and its two gRPC dependencies
//   node client.js 127.0.0.1:50051 VerifyToken '{"token": "eyJ..."}'
//   node client.js unix:///run/authsidecar.sock VerifySession '{"session_token": "...", "phone": "+14155552671"}'
//
// Prints the response as one JSON line, or {"error": {"code": "INVALID_ARGUMENT", "details": "..."}}
// and exits 1. In a service you keep one client for the process and call it per request:
//
//   const auth = new AuthsidecarClient("127.0.0.1:50051", { timeoutMs: 500 });
//   const answer = await auth.verifyToken(token, { requiredScopes: ["orders:read"] });
//   if (!answer.valid) return res.status(401).json({ reason: answer.reason });
//   ...
//   auth.close();   // at shutdown: the open stream keeps the event loop alive
"use strict";

const { AuthsidecarClient, status } = require("@authsidecar/client");

async function main([target, rpc, json]) {
  if (!target || !rpc) {
    console.error("usage: node client.js TARGET RPC [JSON_REQUEST]");
    return 2;
  }
  const auth = new AuthsidecarClient(target, { timeoutMs: 1000 });
  try {
    console.log(JSON.stringify(await auth.call(rpc, JSON.parse(json || "{}"))));
    return 0;
  } catch (err) {
    const code = err.code !== undefined ? status[err.code] : "CLIENT_ERROR";
    console.log(JSON.stringify({ error: { code, details: err.details || err.message } }));
    return 1;
  } finally {
    auth.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
