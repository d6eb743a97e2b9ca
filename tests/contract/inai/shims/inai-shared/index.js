// authsidecar's stand-in for @inai-dev/shared, which @inai-dev/backend@1.10.0 requires but the npm
// registry does not have. Written by us (no vendor code): only the names the backend's dist imports,
// behaving as the package's published README and source describe them (InAI-Team/inai-auth-sdk,
// packages/shared: constants, errors, jwt, jwks):
//   HEADER_PUBLISHABLE_KEY "X-Publishable-Key", DEFAULT_API_URL "https://apiauth.inai.dev";
//   InAIAuthError(message, status, body); JWT helpers; ES256 verification through a JWKS client that
//   keeps EC P-256 ES256 keys only, caches them 5 minutes and refetches at most every 10 s.
"use strict";

const HEADER_PUBLISHABLE_KEY = "X-Publishable-Key";
const DEFAULT_API_URL = "https://apiauth.inai.dev";

class InAIAuthError extends Error {
  constructor(message, status, body) {
    super(message);
    this.name = "InAIAuthError";
    this.status = status;
    this.body = body;
  }
}

function part(token, index) {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) return null;
  try {
    return JSON.parse(Buffer.from(parts[index], "base64url").toString("utf8"));
  } catch {
    return null;
  }
}

const decodeJWTHeader = (token) => part(token, 0);
const getClaimsFromToken = (token) => part(token, 1);

function isTokenExpired(token) {
  const claims = getClaimsFromToken(token);
  return !claims || !claims.exp || Date.now() >= claims.exp * 1000;
}

async function verifyES256(token, publicKey) {
  try {
    const [header, payload, signature] = token.split(".");
    const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, publicKey,
      Buffer.from(signature, "base64url"), Buffer.from(`${header}.${payload}`));
    if (!ok) return null;
    const claims = getClaimsFromToken(token);
    if (!claims || (claims.exp && Date.now() >= claims.exp * 1000)) return null;
    return claims;
  } catch {
    return null;
  }
}

class JWKSClient {
  constructor(jwksUrl, cacheTTL = 5 * 60 * 1000, minRefetchInterval = 10000) {
    Object.assign(this, { jwksUrl, cacheTTL, minRefetchInterval });
    this.keys = new Map();
    this.fetchedAt = 0;
    this.triedAt = 0;
    this.stale = false;
  }

  async getKey(kid) {
    const fresh = Date.now() - this.fetchedAt < this.cacheTTL && !this.stale;
    if (fresh && this.keys.has(kid)) return this.keys.get(kid);
    if (Date.now() - this.triedAt >= this.minRefetchInterval) await this.load();
    this.stale = false;
    if (this.keys.has(kid)) return this.keys.get(kid);
    throw new Error(`Unknown key ID: ${kid}`);
  }

  async load() {
    this.triedAt = Date.now();
    const res = await fetch(this.jwksUrl);
    if (!res.ok) throw new Error(`Failed to fetch JWKS: ${res.status}`);
    const { keys } = await res.json();
    this.keys.clear();
    for (const jwk of keys) {
      if (jwk.kty !== "EC" || jwk.crv !== "P-256" || jwk.alg !== "ES256") continue;
      const key = await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y },
        { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
      this.keys.set(jwk.kid, key);
    }
    this.fetchedAt = Date.now();
  }

  invalidate() {
    this.stale = true;
  }
}

module.exports = {
  HEADER_PUBLISHABLE_KEY, DEFAULT_API_URL, InAIAuthError, JWKSClient,
  decodeJWTHeader, getClaimsFromToken, isTokenExpired, verifyES256,
};
