// @authsidecar/client: call the authsidecar (authsidecar.v1.AuthService) from Node.
//
//   const { AuthsidecarClient } = require("@authsidecar/client");
//   const auth = new AuthsidecarClient("127.0.0.1:50051", { timeoutMs: 500 });   // one per process
//   const answer = await auth.verifyToken(token, { requiredScopes: ["orders:read"] });
//   if (!answer.valid) ...                  // answer.reason: "REASON_EXPIRED", ...
//   auth.close();                           // at shutdown: the open stream keeps the event loop alive
//
// Responses are plain objects with the .proto's field names (session_token, required_scopes) and
// enums as strings. Errors are gRPC errors (err.code, err.details; INVALID_ARGUMENT names the field).
// Every call has a deadline (timeoutMs) that covers its retries; only idempotent calls are retried,
// only on UNAVAILABLE. VerifyApproval and ValidateChallenge spend a one-time token and are never
// retried (the first attempt may have spent it), nor are Track and EnrollVerifiedAuthenticator.
// The read-only calls ride one AuthService.VerifyStream per client (multiplex: false turns it off);
// trade-offs in docs/clients.md. AccountService and SecondFactorService: auth.accounts.login({...}),
// auth.factors.verifyTotp({...}) and the rest (types in factors.d.ts).
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

// The .proto files ship in the package (protos/, checked equal to the repo's by a test) with
// google/rpc/status.proto: proto-loader resolves imports only from includeDirs.
const PROTOS = path.join(__dirname, "protos");
const DEFAULT_TARGET = "127.0.0.1:50051";
const DEFAULT_TIMEOUT_MS = 1000;
const DEFAULT_RETRIES = 2;
const BACKOFF_MS = 50; // first retry delay; doubles, with jitter
const IDEMPOTENT = new Set([
  "VerifyToken", "VerifySession", "GetSessionStatus", "IsRevoked", "GetAction", "GetUser", "CheckUpstreamHealth",
]);
// The calls that may ride the stream, and the VerifyStreamRequest field carrying each.
const STREAM_KINDS = {
  VerifyToken: "verify_token", VerifySession: "verify_session", IsRevoked: "is_revoked",
  GetSessionStatus: "get_session_status",
};
const FULL_COOLDOWN_MS = 5000; // after the sidecar refused a stream (RESOURCE_EXHAUSTED): unary for this long
const PACKING_HEADER = "authsidecar-stream-packing"; // the sidecar's initial metadata: items per message
const OPEN_WAIT_MS = 1000; // no initial metadata this long after opening: an older sidecar, single items
const PACK_BYTES = 60 * 1024; // one packed message stays under the sidecar's 80 KiB receive cap

let definition = null;
function services() {
  definition = definition || protoLoader.loadSync(["authsidecar/v1/auth.proto", "authsidecar/v1/factors.proto"], {
    includeDirs: [PROTOS],
    keepCase: true, // field names exactly as in the .proto: session_token, required_scopes
    enums: String, // "REASON_EXPIRED" rather than 1
    longs: String,
    defaults: true, // unset fields come back with their default (valid: false, reason: ...UNSPECIFIED)
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).authsidecar.v1;
}

function rpcError(code, details) {
  const err = new Error(`${code} ${grpc.status[code]}: ${details}`);
  return Object.assign(err, { code, details, metadata: new grpc.Metadata() });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class AuthsidecarClient {
  constructor(target = DEFAULT_TARGET, options = {}) {
    const { timeoutMs = DEFAULT_TIMEOUT_MS, retries = DEFAULT_RETRIES, backoffMs = BACKOFF_MS, multiplex = true,
      credentials = grpc.credentials.createInsecure(), channelOptions = {} } = options;
    if (!(timeoutMs > 0) || retries < 0 || backoffMs < 0) {
      throw new RangeError("timeoutMs must be positive; retries and backoffMs must not be negative");
    }
    this.timeoutMs = timeoutMs;
    this.retries = retries;
    this.backoffMs = backoffMs;
    const v1 = services();
    this.grpc = new v1.AuthService(target, credentials, channelOptions);
    this.mux = multiplex ? new VerifyStreamMux(this.grpc) : null;
    // The other two services on the same channel: one connection per client.
    const channelOverride = this.grpc.getChannel();
    this.accounts = new ServiceCalls(this, new v1.AccountService(target, credentials, { channelOverride }));
    this.factors = new ServiceCalls(this, new v1.SecondFactorService(target, credentials, { channelOverride }));
  }

  // Any AuthService RPC by name, with the retry rules above.
  async call(rpc, request = {}, { timeoutMs } = {}) {
    if (typeof this.grpc[rpc] !== "function") throw new Error(`unknown RPC ${rpc}`);
    return this.retrying(IDEMPOTENT.has(rpc), timeoutMs, (deadline) => this.send(rpc, request, deadline));
  }

  // `attempt(deadline)` once, or again on UNAVAILABLE while `idempotent` allows and the deadline has room.
  async retrying(idempotent, timeoutMs, attempt) {
    const deadline = Date.now() + (timeoutMs || this.timeoutMs);
    const attempts = 1 + (idempotent ? this.retries : 0);
    for (let n = 0; ; n++) {
      try {
        return await attempt(deadline);
      } catch (err) {
        const delay = this.backoffMs * 2 ** n * (0.5 + Math.random() / 2);
        if (n + 1 >= attempts || err.code !== grpc.status.UNAVAILABLE || Date.now() + delay >= deadline) {
          throw err;
        }
        await sleep(delay);
      }
    }
  }

  send(rpc, request, deadline) {
    const left = () => Math.max(deadline - Date.now(), 1);
    const mux = this.mux;
    if (mux && STREAM_KINDS[rpc] && mux.usable()) {
      return mux.call(rpc, request, left()).catch((err) => {
        if (!err.fallback) throw err;
        return this.unary(rpc, request, left());
      });
    }
    return this.unary(rpc, request, left());
  }

  unary(rpc, request, ms) {
    const deadline = new Date(Date.now() + ms);
    return new Promise((resolve, reject) => {
      this.grpc[rpc](request, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
    });
  }

  verifyToken(token, { audience = "", requiredScopes = [], timeoutMs } = {}) {
    return this.call("VerifyToken", { token, audience, required_scopes: requiredScopes }, { timeoutMs });
  }

  verifySession(sessionToken, phone, { defaultRegion = "", timeoutMs } = {}) {
    const request = { session_token: sessionToken, phone, default_region: defaultRegion };
    return this.call("VerifySession", request, { timeoutMs });
  }

  getSessionStatus(sessionToken, phone, { defaultRegion = "", timeoutMs } = {}) {
    const request = { session_token: sessionToken, phone, default_region: defaultRegion };
    return this.call("GetSessionStatus", request, { timeoutMs });
  }

  isRevoked(sessionToken, phone, { defaultRegion = "", timeoutMs } = {}) {
    const request = { session_token: sessionToken, phone, default_region: defaultRegion };
    return this.call("IsRevoked", request, { timeoutMs });
  }

  verifyApproval(approvalToken, phone, { defaultRegion = "", timeoutMs } = {}) {
    const request = { approval_token: approvalToken, phone, default_region: defaultRegion };
    return this.call("VerifyApproval", request, { timeoutMs });
  }

  validateChallenge(token, { userId = "", action = "", timeoutMs } = {}) {
    return this.call("ValidateChallenge", { token, user_id: userId, action }, { timeoutMs });
  }

  track(userId, action, fields = {}, { timeoutMs } = {}) {
    return this.call("Track", { ...fields, user_id: userId, action }, { timeoutMs });
  }

  getAction(userId, action, idempotencyKey, { timeoutMs } = {}) {
    return this.call("GetAction", { user_id: userId, action, idempotency_key: idempotencyKey }, { timeoutMs });
  }

  getUser(userId, { timeoutMs } = {}) {
    return this.call("GetUser", { user_id: userId }, { timeoutMs });
  }

  enrollVerifiedAuthenticator(userId, verificationMethod, fields = {}, { timeoutMs } = {}) {
    const request = { ...fields, user_id: userId, verification_method: verificationMethod };
    return this.call("EnrollVerifiedAuthenticator", request, { timeoutMs });
  }

  checkUpstreamHealth({ timeoutMs } = {}) {
    return this.call("CheckUpstreamHealth", {}, { timeoutMs });
  }

  // Stop the stream (if any) and the channel.
  close() {
    if (this.mux) this.mux.close();
    this.grpc.close();
  }
}

// AccountService and SecondFactorService: one method per RPC (login, verifyTotp, ...; types in
// factors.d.ts), the request as in the .proto, a deadline on every call. Only the reads are retried
// (on UNAVAILABLE): a login, a code check or a sent SMS may have happened before the connection broke.
// WatchApprovalRequest is a server stream: an async iterable of its updates, within the deadline.
const RETRIED = new Set([
  "GetMe", "ListSessions", "GetApprovalRequest", "GetUserStatus", "VerifyCallbackSignature",
  "GetApplicationStatistics", "GetPhoneInformation",
]);

class ServiceCalls {
  constructor(owner, stub) {
    for (const [rpc, method] of Object.entries(stub.constructor.service)) { // keyed by the .proto's names
      const camel = method.originalName || rpc[0].toLowerCase() + rpc.slice(1);
      if (method.responseStream) {
        this[camel] = (request = {}, { timeoutMs } = {}) => {
          const deadline = new Date(Date.now() + (timeoutMs || owner.timeoutMs));
          return stub[rpc](request, { deadline }); // a Readable: async iterable, errors as gRPC errors
        };
      } else {
        this[camel] = (request = {}, { timeoutMs } = {}) =>
          owner.retrying(RETRIED.has(rpc), timeoutMs, (deadline) =>
            new Promise((resolve, reject) => {
              stub[rpc](request, { deadline: new Date(deadline) }, (err, response) => (err ? reject(err) : resolve(response)));
            }));
      }
    }
  }
}

// Concurrent calls over one VerifyStream: each gets a fresh id and waits for the answer with that id
// (answers arrive in completion order). The call's deadline travels as the item's timeout, so the
// sidecar drops the item when the caller stops waiting. When the stream breaks, every waiting call
// fails with its status (UNAVAILABLE while the sidecar restarts); UNIMPLEMENTED or RESOURCE_EXHAUSTED
// send calls back to unary RPCs (err.fallback).
//
// Nothing is written until the sidecar has admitted the stream (its initial metadata, which names how
// many items one message may carry): an item written into a refused stream is lost with it. Then what
// is queued goes out packed, one message each time the previous write is done (no added wait: items
// queued in the same tick, or while a write is under way, share the next message). A sidecar that
// does not announce packing gets one item per message.
class VerifyStreamMux {
  constructor(client) {
    this.client = client;
    this.nextId = 1;
    this.pending = new Map(); // id (string: longs are strings) → { resolve, reject, timer }
    this.line = null; // the open stream and its outbox
    this.closedUntil = 0;
    this.itemsSent = 0; // how well packing does (read by tests and the curious)
    this.messagesSent = 0;
  }

  usable() {
    return Date.now() >= this.closedUntil;
  }

  call(rpc, request, deadlineMs) {
    if (!this.line) this.open();
    const line = this.line;
    const id = String(this.nextId++);
    const ms = Math.max(1, Math.round(deadlineMs));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(rpcError(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded"));
      }, ms);
      this.pending.set(id, { resolve, reject, timer });
      const item = { id, timeout: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, [STREAM_KINDS[rpc]]: request };
      line.outbox.push({ item, bytes: itemBytes(request) });
      this.schedule(line);
    });
  }

  open() {
    const stream = this.client.VerifyStream();
    const line = { stream, outbox: [], perMessage: 0, writing: false, scheduled: false, wait: null };
    // An older sidecar sends its initial metadata only with its first answer: after this long, single items.
    line.wait = setTimeout(() => this.admit(line, 1), OPEN_WAIT_MS);
    stream.on("metadata", (metadata) => {
      const announced = String(metadata.get(PACKING_HEADER)[0] || "");
      this.admit(line, /^[1-9][0-9]{0,5}$/.test(announced) ? Number(announced) : 1);
    });
    stream.on("data", (message) => {
      if (message.answers && message.answers.length) {
        for (const answer of message.answers) this.deliver(answer);
      } else {
        this.deliver(message);
      }
    });
    stream.on("error", (err) => this.ended(line, err));
    stream.on("end", () => this.ended(line, rpcError(grpc.status.UNAVAILABLE, "VerifyStream ended")));
    this.line = line;
  }

  admit(line, perMessage) {
    if (line.perMessage || this.line !== line) return;
    clearTimeout(line.wait);
    line.perMessage = perMessage;
    this.pump(line);
  }

  // Write on the next microtask rather than now, so the calls made in this tick share one message.
  schedule(line) {
    if (line.scheduled || line.writing || !line.perMessage) return;
    line.scheduled = true;
    queueMicrotask(() => {
      line.scheduled = false;
      this.pump(line);
    });
  }

  pump(line) {
    if (this.line !== line || line.writing || !line.perMessage) return;
    const items = [];
    let bytes = 0;
    let taken = 0;
    for (const { item, bytes: size } of line.outbox) {
      if (items.length >= line.perMessage || (items.length && bytes + size > PACK_BYTES)) break;
      taken++;
      if (!this.pending.has(item.id)) continue; // its caller stopped waiting: not worth sending
      items.push(item);
      bytes += size;
    }
    line.outbox.splice(0, taken);
    if (!items.length) return;
    line.writing = true;
    this.messagesSent++;
    this.itemsSent += items.length;
    line.stream.write(items.length === 1 ? items[0] : { items }, () => {
      line.writing = false;
      if (line.outbox.length) this.pump(line);
    });
  }

  deliver(answer) {
    const waiting = this.pending.get(answer.id);
    if (!waiting) return; // its caller stopped waiting
    this.pending.delete(answer.id);
    clearTimeout(waiting.timer);
    if (answer.result === "error") {
      waiting.reject(rpcError(answer.error.code, answer.error.message));
    } else if (answer.result) {
      waiting.resolve(answer[answer.result]);
    } else {
      waiting.reject(rpcError(grpc.status.UNKNOWN, "VerifyStream: an answer without a result"));
    }
  }

  ended(line, err) {
    clearTimeout(line.wait);
    if (this.line !== line) return;
    this.line = null;
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
    const line = this.line;
    this.line = null;
    if (line) {
      clearTimeout(line.wait);
      line.stream.cancel();
    }
  }
}

// An upper bound of an item's encoded size: its strings plus each field's tag and length, and the
// item's id, timeout and wrapper.
function itemBytes(request) {
  let bytes = 48;
  for (const value of Object.values(request)) {
    for (const each of Array.isArray(value) ? value : [value]) {
      bytes += (typeof each === "string" ? Buffer.byteLength(each) : 16) + 8;
    }
  }
  return bytes;
}

module.exports = { AuthsidecarClient, IDEMPOTENT, RETRIED, status: grpc.status };
