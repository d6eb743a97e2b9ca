// Express middleware over @authsidecar/client: the seed SDKs' per-route calls as one line each.
//
//   const { AuthsidecarClient } = require("@authsidecar/client");
//   const { authsidecar, fromBody } = require("@authsidecar/client/express");
//   const auth = authsidecar(new AuthsidecarClient("127.0.0.1:50051", { timeoutMs: 500 }));
//
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

// Credentials from the JSON body, as the seed READMEs send them ({ session_token, phone }); needs
// express.json() (which bounds the body: 100 kB by default) before the middleware.
function fromBody(tokenField, phoneField = "phone") {
  return (req) => {
    const body = req.body && typeof req.body === "object" ? req.body : {};
    return { token: body[tokenField], phone: phoneField ? body[phoneField] : undefined };
  };
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

module.exports = { authsidecar, fromBody, Denial };
