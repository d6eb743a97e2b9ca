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
//   const auth = connect("127.0.0.1:50051");        // { multiplex: false } for one RPC per call
//   const answer = await call(auth, "VerifyToken", { token, required_scopes: ["orders:read"] });
//   if (!answer.valid) return res.status(401).json({ reason: answer.reason });
//   ...
//   close(auth);   // at shutdown
//
// By default (measured faster; { multiplex: false } turns it off) the read-only calls (VerifyToken, VerifySession, IsRevoked,
// GetSessionStatus) ride one AuthService.VerifyStream per client instead of one RPC each: same
// call(), same answers and errors, far less per-call work when many are in flight. Trade-offs in
// docs/clients.md.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "..", "..", "protos");
// google/rpc/status.proto (VerifyStream's per-item error), copied from googleapis: proto-loader
// resolves imports only from includeDirs, and the whole googleapis package is megabytes.
const GOOGLE_PROTOS = path.resolve(__dirname, "protos");
const DEADLINE_MS = 1000;
// The calls that may ride the stream, and the VerifyStreamRequest field carrying each.
const STREAM_KINDS = {
  VerifyToken: "verify_token", VerifySession: "verify_session", IsRevoked: "is_revoked",
  GetSessionStatus: "get_session_status",
};
const FULL_COOLDOWN_MS = 5000;   // after the sidecar refused a stream (RESOURCE_EXHAUSTED): unary for this long

function connect(target, { multiplex = true } = {}) {
  const definition = protoLoader.loadSync("authsidecar/v1/auth.proto", {
    includeDirs: [PROTOS, GOOGLE_PROTOS],
    keepCase: true,   // field names exactly as in the .proto: session_token, required_scopes
    enums: String,    // "REASON_EXPIRED" rather than 1
    longs: String,
    defaults: true,   // unset fields come back with their default (valid: false, reason: ...UNSPECIFIED)
    oneofs: true,
  });
  const { authsidecar } = grpc.loadPackageDefinition(definition);
  const client = new authsidecar.v1.AuthService(target, grpc.credentials.createInsecure());
  if (multiplex) {
    client.mux = new VerifyStreamMux(client);
  }
  return client;
}

// One call with a deadline; resolves with the response object, rejects with the gRPC error
// (err.code, err.details). On a multiplexing client the read-only calls go over the stream.
function call(client, rpc, request, deadlineMs = DEADLINE_MS) {
  if (typeof client[rpc] !== "function") {
    return Promise.reject(new Error(`unknown RPC ${rpc}`));
  }
  const mux = client.mux;
  if (mux && STREAM_KINDS[rpc] && mux.usable()) {
    const started = Date.now();
    return mux.call(rpc, request, deadlineMs).catch((err) => {
      if (!err.fallback) throw err;
      return unary(client, rpc, request, Math.max(deadlineMs - (Date.now() - started), 1));
    });
  }
  return unary(client, rpc, request, deadlineMs);
}

function unary(client, rpc, request, deadlineMs) {
  const deadline = new Date(Date.now() + deadlineMs);
  return new Promise((resolve, reject) => {
    client[rpc](request, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

function rpcError(code, details) {
  const err = new Error(`${code} ${grpc.status[code]}: ${details}`);
  return Object.assign(err, { code, details, metadata: new grpc.Metadata() });
}

// Concurrent calls over one VerifyStream: each gets a fresh id and waits for the answer with that id
// (answers arrive in completion order). The call's deadline travels as the item's timeout, so the
// sidecar drops the item when the caller stops waiting. When the stream breaks, every waiting call
// fails with its status (UNAVAILABLE while the sidecar restarts); UNIMPLEMENTED or RESOURCE_EXHAUSTED
// send calls back to unary RPCs (err.fallback).
class VerifyStreamMux {
  constructor(client) {
    this.client = client;
    this.nextId = 1;
    this.pending = new Map();    // id (string: longs are strings) → { resolve, reject, timer }
    this.stream = null;
    this.closedUntil = 0;
  }

  usable() {
    return Date.now() >= this.closedUntil;
  }

  call(rpc, request, deadlineMs) {
    if (!this.stream) this.open();
    const id = String(this.nextId++);
    const ms = Math.max(1, Math.round(deadlineMs));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(rpcError(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded"));
      }, ms);
      this.pending.set(id, { resolve, reject, timer });
      this.stream.write({
        id, timeout: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, [STREAM_KINDS[rpc]]: request,
      });
    });
  }

  open() {
    const stream = this.client.VerifyStream();
    stream.on("data", (answer) => {
      const waiting = this.pending.get(answer.id);
      if (!waiting) return;                       // its caller stopped waiting
      this.pending.delete(answer.id);
      clearTimeout(waiting.timer);
      if (answer.result === "error") {
        waiting.reject(rpcError(answer.error.code, answer.error.message));
      } else {
        waiting.resolve(answer[answer.result]);
      }
    });
    stream.on("error", (err) => this.ended(stream, err));
    stream.on("end", () => this.ended(stream, rpcError(grpc.status.UNAVAILABLE, "VerifyStream ended")));
    this.stream = stream;
  }

  ended(stream, err) {
    if (this.stream !== stream) return;
    this.stream = null;
    let failure = err;
    if (err.code === grpc.status.UNIMPLEMENTED || err.code === grpc.status.RESOURCE_EXHAUSTED) {
      this.closedUntil = err.code === grpc.status.UNIMPLEMENTED ? Infinity : Date.now() + FULL_COOLDOWN_MS;
      failure = Object.assign(new Error("VerifyStream unavailable: use unary calls"), { fallback: true });
    }
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.reject(failure);
      this.pending.delete(id);
    }
  }

  close() {
    const stream = this.stream;
    this.stream = null;
    if (stream) stream.cancel();
  }
}

// Stop the stream (if any) and the channel.
function close(client) {
  if (client.mux) client.mux.close();
  client.close();
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
    close(client);
  }
}

module.exports = { connect, call, close };

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
