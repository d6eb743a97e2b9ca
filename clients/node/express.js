// Express middleware over @authsidecar/client: the seed SDKs' per-route calls as one line each.
//
//   const { AuthsidecarClient } = require("@authsidecar/client");
//   const { authsidecar, fromBody, keepRawBody } = require("@authsidecar/client/express");
//   const auth = authsidecar(new AuthsidecarClient("127.0.0.1:50051", { timeoutMs: 500 }));
//
//   app.use(express.json({ verify: keepRawBody }));     // or no body parser before the routes using fromBody
//   app.post("/auth/login", auth.session({ from: fromBody("session_token", "phone") }), handler);  // verifySession
//   app.post("/actions/transfer", auth.approval({ from: fromBody("approval_token", "phone"), action: "transfer" }), h);
//   app.get("/secure", auth.revocation({ from: (req) => ({ token: req.user.session_token, phone: req.user.phone }) }), h);
//   app.get("/orders", auth.jwt({ scopes: ["orders:read"] }), h);                          // buildAuthObjectFromToken
//
// A request that passes gets req.auth (jwt: { kind, subject, issuer, scopes, roles, claims, auth };
// session: { kind, subject: phone, phone }) or req.approval ({ action }). One that does not gets the
// status and WWW-Authenticate of the sidecar's ext_authz: no credential 401 `Bearer realm="authsidecar"`
// (`Session …` for RAuth sessions); not valid 401 error="invalid_token"; unusable 401
// error="invalid_request"; missing scopes 403 error="insufficient_scope"; approval or challenge not
// good 403; the sidecar or its upstream unreachable 503 — fail closed, never next(). Incoming
// x-auth-* headers (also with "_") are deleted before the route runs: they are forged by definition.
"use strict";

const { status } = require("./index");

const REALM = 'realm="authsidecar"';
const MAX_CREDENTIAL_BYTES = 16 * 1024; // the sidecar's limits.max_token_bytes default
const MAX_BODY_BYTES = 64 * 1024; // credentials read from a JSON body: only from a body this small
const BODY_READ_MS = 10000; // a body that has not arrived by then is not waited for
const RAW_BODY = Symbol.for("authsidecar.rawBody");
const HEADERS = {
  authorization: "authorization", sessionToken: "x-session-token", phone: "x-user-phone",
  approvalToken: "x-approval-token", challengeToken: "x-challenge-token",
};
const BEARER = /^Bearer +([!-~]+) *$/i;

class Denial extends Error {
  constructor(statusCode, reason, headers = {}) {
    super(`${statusCode} ${reason}`);
    Object.assign(this, { statusCode, reason, headers });
  }
}

const challengeHeader = (kind, error) => ({
  "www-authenticate": `${kind === "jwt" ? "Bearer" : "Session"} ${REALM}` + (error ? `, error="${error}"` : ""),
});

function usable(kind, value) {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string" || value.length > MAX_CREDENTIAL_BYTES || !/^[\x20-\x7e]+$/.test(value)) {
    throw new Denial(401, "malformed", challengeHeader(kind, "invalid_request"));
  }
  return value;
}

function header(req, name) {
  const value = req.headers[name];
  return Array.isArray(value) ? undefined : value; // a repeated credential header is no credential
}

function fromHeaders(kind, names) {
  return (req) => {
    const phone = header(req, names.phone);
    if (kind === "jwt") {
      const value = usable("jwt", header(req, names.authorization));
      if (value === null) return { token: null };
      const match = BEARER.exec(value);
      if (!match) throw new Denial(401, "malformed", challengeHeader("jwt", "invalid_request"));
      return { token: match[1] };
    }
    const tokenHeader = { session: names.sessionToken, revocation: names.sessionToken,
      approval: names.approvalToken, challenge: names.challengeToken }[kind];
    return { token: header(req, tokenHeader), phone };
  };
}

// Credentials from the JSON body, as the seed READMEs send them ({ session_token, phone }). A body with
// a key given twice is refused (401 invalid_request), never resolved: express.json keeps the last
// value, and a proxy or the app may have read the first. So the check needs the raw bytes: either
// nothing has parsed the body yet (it is read here, at most 64 KiB with a Content-Length, within
// 10 s, and left parsed as req.body), or express.json({ verify: keepRawBody }) kept them. A body
// parsed without its bytes cannot be checked: 500, fail closed.
function fromBody(tokenField, phoneField = "phone") {
  return async (req) => {
    const body = parseUnique(await rawBody(req));
    if (req.body === undefined) {
      req.body = body;
      req._body = true; // body-parser's own mark: a later express.json() leaves the body as it is
    }
    return { token: body[tokenField], phone: phoneField ? body[phoneField] : undefined };
  };
}

// express.json({ verify: keepRawBody }): keep the bytes fromBody checks for duplicate keys.
function keepRawBody(req, res, bytes) {
  req[RAW_BODY] = bytes;
}

async function rawBody(req) {
  const kept = req[RAW_BODY];
  if (Buffer.isBuffer(kept)) {
    if (kept.length > MAX_BODY_BYTES) throw new Denial(413, "body_too_large");
    return kept;
  }
  if (req._body || req.body !== undefined || req.readableEnded) {
    throw new Denial(500, "body_parsed_without_raw_bytes"); // see keepRawBody
  }
  const size = req.headers["content-length"];
  if (typeof size !== "string" || !/^[0-9]{1,9}$/.test(size)) throw new Denial(411, "body_not_readable");
  if (Number(size) > MAX_BODY_BYTES) throw new Denial(413, "body_too_large");
  const bytes = await new Promise((resolve, reject) => {
    const chunks = [];
    let length = 0;
    const done = (err, value) => {
      clearTimeout(timer);
      req.off("data", onData).off("end", onEnd).off("error", onError).off("aborted", onAborted);
      err ? reject(err) : resolve(value);
    };
    const onData = (chunk) => {
      length += chunk.length;
      if (length > MAX_BODY_BYTES) {
        req.pause();
        done(new Denial(413, "body_too_large"));
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = () => done(null, Buffer.concat(chunks, length));
    const onError = () => done(new Denial(400, "body_not_readable"));
    const onAborted = onError;
    const timer = setTimeout(() => done(new Denial(408, "body_timeout")), BODY_READ_MS);
    req.on("data", onData).on("end", onEnd).on("error", onError).on("aborted", onAborted);
  });
  req[RAW_BODY] = bytes;
  return bytes;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function parseUnique(bytes) {
  const malformed = () => new Denial(401, "malformed", challengeHeader("session", "invalid_request"));
  let text;
  let body;
  try {
    text = UTF8.decode(bytes);
    body = JSON.parse(text);
  } catch {
    throw malformed();
  }
  if (!body || typeof body !== "object" || Array.isArray(body) || duplicateKey(text) !== null) throw malformed();
  return body;
}

// The first key given twice in one object of a valid JSON text (compared unescaped: "a" and "\u0061"
// are the same key), or null. No reviver: a reviver sees each key once, after the parser chose.
function duplicateKey(text) {
  const objects = []; // per open container: a Set of its keys (object) or null (array)
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      const keys = objects[objects.length - 1];
      if (expectKey && keys) {
        const key = JSON.parse(text.slice(i, end + 1));
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === "{" || c === "[") {
      objects.push(c === "{" ? new Set() : null);
      expectKey = c === "{";
    } else if (c === "}" || c === "]") {
      objects.pop();
    } else if (c === ",") {
      expectKey = objects[objects.length - 1] !== null;
    }
  }
  return null;
}

function reasonLabel(reason) {
  return typeof reason === "string" ? reason.replace(/^REASON_/, "").toLowerCase() : "unknown";
}

function denial(kind, reason, scopes) {
  if (!reason || reason === "REASON_UNSPECIFIED" || reason === "REASON_UPSTREAM_UNAVAILABLE") {
    return new Denial(503, "upstream_unavailable"); // "not valid" without a reason: fail closed
  }
  const label = reasonLabel(reason);
  if (reason === "REASON_INSUFFICIENT_SCOPE") {
    return new Denial(403, label, {
      "www-authenticate": `Bearer ${REALM}, error="insufficient_scope", scope="${scopes.join(" ")}"`,
    });
  }
  if (kind === "approval" || kind === "challenge") return new Denial(403, label);
  return new Denial(401, label, challengeHeader(kind, "invalid_token"));
}

async function ask(client, kind, opts, credentials, req) {
  const token = usable(kind, credentials.token);
  const phone = usable(kind, credentials.phone);
  if (token === null) {
    if (kind === "approval") throw new Denial(403, "approval_required");
    if (kind === "challenge") throw new Denial(403, "challenge_required");
    throw new Denial(401, "missing_credential", challengeHeader(kind, null));
  }
  if (kind !== "jwt" && kind !== "challenge" && phone === null) {
    throw new Denial(401, "missing_credential", challengeHeader(kind, null));
  }
  let answer;
  try {
    if (kind === "jwt") {
      answer = await client.verifyToken(token, { audience: opts.audience || "", requiredScopes: opts.scopes || [] });
    } else if (kind === "session") {
      answer = await client.verifySession(token, phone);
    } else if (kind === "revocation") {
      answer = await client.isRevoked(token, phone);
    } else if (kind === "approval") {
      answer = await client.verifyApproval(token, phone); // never retried by the client
    } else {
      const userId = req.auth && req.auth.kind === "jwt" ? req.auth.subject : "";
      answer = await client.validateChallenge(token, { userId, action: opts.action || "" });
    }
  } catch (err) {
    if (err && err.code === status.INVALID_ARGUMENT) {
      throw new Denial(401, "malformed", challengeHeader(kind, "invalid_request"));
    }
    throw new Denial(503, "sidecar_unavailable");
  }
  return decide(kind, opts, answer, phone);
}

function decide(kind, opts, answer, phone) {
  if (kind === "revocation") {
    if (answer.revoked) throw denial(kind, answer.reason === "REASON_UNSPECIFIED" ? "REASON_REVOKED" : answer.reason);
    return {};
  }
  const ok = kind === "challenge" ? answer.is_valid : answer.valid;
  if (!ok || answer.reason !== "REASON_UNSPECIFIED") throw denial(kind, answer.reason, opts.scopes || []);
  if (kind === "jwt") {
    const a = answer.auth || {};
    return { auth: { kind: "jwt", subject: a.subject, issuer: a.issuer, scopes: a.scopes || [], roles: a.roles || [],
      sessionId: a.session_id, claims: a.claims || {}, auth: a } };
  }
  if (kind === "session") return { auth: { kind: "session", subject: phone, phone } };
  if (kind === "approval") {
    // Spent by this check; one granted for another action must not open this route.
    if (opts.action && answer.action !== opts.action) throw denial(kind, "REASON_ACTION_MISMATCH");
    return { approval: { action: answer.action } };
  }
  return {};
}

function stripForged(req, prefix) {
  for (const name of Object.keys(req.headers)) {
    if (name.toLowerCase().replace(/_/g, "-").startsWith(prefix)) delete req.headers[name];
  }
}

function authsidecar(client, { headers = {}, identityPrefix = "x-auth-" } = {}) {
  const names = { ...HEADERS, ...headers };
  const middleware = (kind) => (opts = {}) => {
    const read = opts.from || fromHeaders(kind, names);
    return async (req, res, next) => {
      stripForged(req, identityPrefix);
      try {
        const found = await ask(client, kind, opts, await read(req), req);
        Object.assign(req, found);
      } catch (err) {
        const d = err instanceof Denial ? err : new Denial(503, "sidecar_unavailable");
        res.status(d.statusCode).set(d.headers).json({ error: d.reason });
        return;
      }
      next();
    };
  };
  return {
    jwt: middleware("jwt"),
    session: middleware("session"),
    revocation: middleware("revocation"),
    approval: middleware("approval"),
    challenge: middleware("challenge"),
  };
}

module.exports = { authsidecar, fromBody, keepRawBody, duplicateKey, Denial };
