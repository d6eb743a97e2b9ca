// Types of @authsidecar/client (hand-written from protos/authsidecar/v1/auth.proto; field names as in
// the .proto, enums as their names).
import type { ChannelCredentials, ChannelOptions, ServiceError, status } from "@grpc/grpc-js";
import type { AccountServiceCalls, SecondFactorServiceCalls } from "./factors";
export * from "./factors";

export type Reason =
  | "REASON_UNSPECIFIED" | "REASON_EXPIRED" | "REASON_REVOKED" | "REASON_NOT_VERIFIED" | "REASON_SUBJECT_MISMATCH"
  | "REASON_BAD_SIGNATURE" | "REASON_UNKNOWN_KEY" | "REASON_UNTRUSTED_ISSUER" | "REASON_BAD_AUDIENCE"
  | "REASON_MALFORMED" | "REASON_ALREADY_USED" | "REASON_UPSTREAM_UNAVAILABLE" | "REASON_NOT_FOUND"
  | "REASON_PHONE_MISMATCH" | "REASON_INSUFFICIENT_SCOPE" | "REASON_NOT_YET_VALID" | "REASON_BAD_ALGORITHM"
  | "REASON_MISSING_CLAIM" | "REASON_ACTION_MISMATCH" | "REASON_CHALLENGE_FAILED"
  | (string & {}); // reasons added to the .proto later still type-check
export type Source = "SOURCE_UNSPECIFIED" | "SOURCE_CACHE" | "SOURCE_UPSTREAM" | "SOURCE_STREAM" | "SOURCE_LOCAL" | (string & {});
export type SessionStatus =
  | "SESSION_STATUS_UNSPECIFIED" | "SESSION_STATUS_PENDING" | "SESSION_STATUS_VERIFIED" | "SESSION_STATUS_REVOKED"
  | (string & {});
export type ActionState =
  | "ACTION_STATE_UNSPECIFIED" | "ACTION_STATE_CHALLENGE_REQUIRED" | "ACTION_STATE_CHALLENGE_SUCCEEDED"
  | "ACTION_STATE_CHALLENGE_FAILED" | "ACTION_STATE_ALLOW" | "ACTION_STATE_BLOCK" | "ACTION_STATE_REVIEW"
  | (string & {});

/** google.protobuf.Timestamp (longs as strings). */
export interface Timestamp { seconds: string; nanos: number }
/** google.protobuf.Struct as proto-loader renders it. */
export interface Struct { fields: Record<string, unknown> }

export interface AuthInfo {
  subject: string;
  issuer: string;
  audiences: string[];
  expires_at: Timestamp | null;
  issued_at: Timestamp | null;
  session_id: string;
  scopes: string[];
  permissions: string[];
  roles: string[];
  org_id: string;
  claims: Struct | null;
  key_id: string;
  [more: string]: unknown;
}

interface Outcome { valid: boolean; reason: Reason; detail: string; source: Source }
export interface VerifyTokenResponse extends Outcome { auth: AuthInfo | null }
export interface VerifySessionResponse extends Outcome { status: SessionStatus }
export interface GetSessionStatusResponse { status: SessionStatus; reason: Reason; detail: string; source: Source; [more: string]: unknown }
export interface IsRevokedResponse { revoked: boolean; reason: Reason; detail: string; source: Source }
export interface VerifyApprovalResponse extends Outcome { action: string; session_token: string; expires_at: Timestamp | null }
export interface ValidateChallengeResponse {
  is_valid: boolean; state: ActionState; user_id: string; action: string; reason: Reason; detail: string;
  idempotency_key: string; verification_method: string; source: Source;
}
/** The pass-through calls' answers, as the .proto defines them. */
export type Message = Record<string, unknown>;

export interface ClientOptions {
  /** Deadline of each call, retries included (default 1000). */
  timeoutMs?: number;
  /** Retries of idempotent calls on UNAVAILABLE (default 2). */
  retries?: number;
  backoffMs?: number;
  /** Carry the read-only calls over one VerifyStream (default true). */
  multiplex?: boolean;
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
}
export interface CallOptions { timeoutMs?: number }
export interface RegionOptions extends CallOptions { defaultRegion?: string }

export class AuthsidecarClient {
  constructor(target?: string, options?: ClientOptions);
  call(rpc: string, request?: Message, options?: CallOptions): Promise<Message>;
  verifyToken(token: string, options?: CallOptions & { audience?: string; requiredScopes?: string[] }): Promise<VerifyTokenResponse>;
  verifySession(sessionToken: string, phone: string, options?: RegionOptions): Promise<VerifySessionResponse>;
  getSessionStatus(sessionToken: string, phone: string, options?: RegionOptions): Promise<GetSessionStatusResponse>;
  isRevoked(sessionToken: string, phone: string, options?: RegionOptions): Promise<IsRevokedResponse>;
  /** Spends the one-time approval: never retried. */
  verifyApproval(approvalToken: string, phone: string, options?: RegionOptions): Promise<VerifyApprovalResponse>;
  /** Spends the challenge: never retried. */
  validateChallenge(token: string, options?: CallOptions & { userId?: string; action?: string }): Promise<ValidateChallengeResponse>;
  track(userId: string, action: string, fields?: Message, options?: CallOptions): Promise<Message>;
  getAction(userId: string, action: string, idempotencyKey: string, options?: CallOptions): Promise<Message>;
  getUser(userId: string, options?: CallOptions): Promise<Message>;
  enrollVerifiedAuthenticator(userId: string, verificationMethod: string, fields?: Message, options?: CallOptions): Promise<Message>;
  checkUpstreamHealth(options?: CallOptions): Promise<Message>;
  /** AccountService (login, completeMfa, refresh, logout, getMe, ...): only the reads are retried. */
  readonly accounts: AccountServiceCalls;
  /** SecondFactorService (verifyTotp, requestSms, createApprovalRequest, ...): only the reads are retried. */
  readonly factors: SecondFactorServiceCalls;
  close(): void;
  /** The VerifyStream multiplexer (null with multiplex: false): items and messages it has written. */
  readonly mux: { readonly itemsSent: number; readonly messagesSent: number } | null;
}

export const IDEMPOTENT: ReadonlySet<string>;
/** The AccountService and SecondFactorService RPCs retried on UNAVAILABLE (the reads). */
export const RETRIED: ReadonlySet<string>;
export { status };
export type AuthsidecarError = ServiceError;
