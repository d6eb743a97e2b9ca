#!/usr/bin/env node
// Call the authsidecar from Node: @grpc/grpc-js + @grpc/proto-loader, with the .proto loaded as is
// (no code generation step).
//
//   npm install            # in this folder
//   node client.js 127.0.0.1:50051 VerifyToken '{"token": "eyJ..."}'
//   node client.js unix:///run/authsidecar.sock VerifySession '{"session_token": "...", "phone": "+14155552671"}'
//
// Prints the response as one JSON line, or {"error": {"code": "INVALID_ARGUMENT", "details": "..."}}
// and exits 1. In a service you would keep one client for the process and call it per request:
//
//   const auth = connect("127.0.0.1:50051");
//   const answer = await call(auth, "VerifyToken", { token, required_scopes: ["orders:read"] });
//   if (!answer.valid) return res.status(401).json({ reason: answer.reason });
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "..", "..", "protos");
const DEADLINE_MS = 1000;

function connect(target) {
  const definition = protoLoader.loadSync("authsidecar/v1/auth.proto", {
    includeDirs: [PROTOS],
    keepCase: true,   // field names exactly as in the .proto: session_token, required_scopes
    enums: String,    // "REASON_EXPIRED" rather than 1
    longs: String,
    defaults: true,   // unset fields come back with their default (valid: false, reason: ...UNSPECIFIED)
    oneofs: true,
  });
  const { authsidecar } = grpc.loadPackageDefinition(definition);
  return new authsidecar.v1.AuthService(target, grpc.credentials.createInsecure());
}

// One RPC with a deadline; resolves with the response object, rejects with the gRPC error.
function call(client, rpc, request, deadlineMs = DEADLINE_MS) {
  if (typeof client[rpc] !== "function") {
    return Promise.reject(new Error(`unknown RPC ${rpc}`));
  }
  const deadline = new Date(Date.now() + deadlineMs);
  return new Promise((resolve, reject) => {
    client[rpc](request, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

async function main(argv) {
  const [target, rpc, json] = argv;
  if (!target || !rpc) {
    console.error("usage: node client.js TARGET RPC [JSON_REQUEST]");
    return 2;
  }
  const client = connect(target);
  try {
    const response = await call(client, rpc, JSON.parse(json || "{}"));
    console.log(JSON.stringify(response));
    return 0;
  } catch (err) {
    const code = err.code !== undefined ? grpc.status[err.code] : "CLIENT_ERROR";
    console.log(JSON.stringify({ error: { code, details: err.details || err.message } }));
    return 1;
  } finally {
    client.close();
  }
}

module.exports = { connect, call };

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
