// Types of @authsidecar/client/express.
import type { IncomingMessage, ServerResponse } from "http";
import type { Request, RequestHandler } from "express";
import type { AuthInfo, AuthsidecarClient } from "./index";

export interface Credentials { token?: unknown; phone?: unknown }
export type CredentialSource = (req: Request) => Credentials | Promise<Credentials>;

export interface JwtIdentity {
  kind: "jwt"; subject: string; issuer: string; scopes: string[]; roles: string[]; sessionId: string;
  claims: unknown; auth: AuthInfo;
}
export interface SessionIdentity { kind: "session"; subject: string; phone: string }
export type Identity = JwtIdentity | SessionIdentity;

declare global {
  namespace Express {
    interface Request {
      /** Set by the jwt and session middleware. */
      auth?: Identity;
      /** Set by the approval middleware (the approval is spent). */
      approval?: { action: string };
    }
  }
}

export interface HeaderNames {
  authorization?: string; sessionToken?: string; phone?: string; approvalToken?: string; challengeToken?: string;
}

export interface Checks {
  /** VerifyToken on Authorization: Bearer (InAI's buildAuthObjectFromToken). */
  jwt(options?: { audience?: string; scopes?: string[] }): RequestHandler;
  /** VerifySession (rauth-provider verifySession). */
  session(options?: { from?: CredentialSource }): RequestHandler;
  /** IsRevoked (rauth-provider isSessionRevoked); unknown state is a 503. */
  revocation(options?: { from?: CredentialSource }): RequestHandler;
  /** VerifyApproval (rauth-provider verifyApproval): one-time, never retried. */
  approval(options?: { from?: CredentialSource; action?: string }): RequestHandler;
  /** ValidateChallenge (@authsignal/node validateChallenge), bound to req.auth's subject after jwt(). */
  challenge(options?: { action?: string }): RequestHandler;
}

export function authsidecar(client: AuthsidecarClient, options?: { headers?: HeaderNames; identityPrefix?: string }): Checks;
/** Credentials from the JSON body (at most 64 KiB); a key given twice is refused. Needs the raw body:
 * no body parser before the route, or express.json({ verify: keepRawBody }). */
export function fromBody(tokenField: string, phoneField?: string | null): CredentialSource;
/** express.json's `verify` hook keeping the raw bytes fromBody checks for duplicate keys. */
export function keepRawBody(req: IncomingMessage, res: ServerResponse, bytes: Buffer): void;
/** The first key given twice in one object of a valid JSON text, or null. */
export function duplicateKey(text: string): string | null;
export class Denial extends Error {
  statusCode: number;
  reason: string;
  headers: Record<string, string>;
}
