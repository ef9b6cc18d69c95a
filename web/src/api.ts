// The page's way to Tessera: the generated gRPC-Web clients of the same services the apps
// and carriers call, on the page's own origin, with the session token as a bearer token.

import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  RetryInfoSchema,
} from "./gen/google/rpc/error_details_pb.js";
import { AccountService } from "./gen/tessera/v1/account_pb.js";
import { ProductKeyService } from "./gen/tessera/v1/product_key_pb.js";
import { SeatService } from "./gen/tessera/v1/seat_pb.js";
import { SubscriptionService } from "./gen/tessera/v1/subscription_pb.js";

const SESSION_KEY = "tessera.session";

// Per tab, gone when the tab closes: the page never keeps a session on disk.
let sessionToken: string | null = sessionStorage.getItem(SESSION_KEY);

export function hasSession(): boolean {
  return sessionToken !== null;
}

export function keepSession(token: string): void {
  sessionToken = token;
  sessionStorage.setItem(SESSION_KEY, token);
}

export function forgetSession(): void {
  sessionToken = null;
  sessionStorage.removeItem(SESSION_KEY);
}

const bearer: Interceptor = (next) => async (request) => {
  if (sessionToken !== null) {
    request.header.set("authorization", `Bearer ${sessionToken}`);
  }
  return next(request);
};

const transport = createGrpcWebTransport({
  baseUrl: window.location.origin,
  interceptors: [bearer],
  defaultTimeoutMs: 15_000,
});

export const accounts = createClient(AccountService, transport);
export const subscriptions = createClient(SubscriptionService, transport);
export const seats = createClient(SeatService, transport);
export const productKeys = createClient(ProductKeyService, transport);

/** A device named in a refusal (a full subscription lists the devices holding its seats). */
export interface HeldDevice {
  seat: string;
  description: string;
}

/** What went wrong, from the status and its `google.rpc` details. */
export interface Problem {
  code: Code;
  /** `ErrorInfo.reason`, e.g. PRODUCT_KEY_MALFORMED; empty when the server was not reached. */
  reason: string;
  /** The status message, as the API gives it. */
  message: string;
  /** The request field `BadRequest` names, if any. */
  field?: string;
  /** What is wrong with that field, as the API gives it. */
  description?: string;
  /** `RetryInfo`: how long to wait, in seconds. */
  retryAfterSeconds?: number;
  /** `PreconditionFailure` entries of type SEAT_HELD. */
  heldDevices: HeldDevice[];
  /** `ErrorInfo.metadata` (a full subscription: `seat_limit`, and each seat's device name). */
  metadata: Record<string, string>;
}

export function problemOf(error: unknown): Problem {
  const e = ConnectError.from(error);
  const info = e.findDetails(ErrorInfoSchema)[0];
  const violation = e.findDetails(BadRequestSchema)[0]?.fieldViolations[0];
  const retry = e.findDetails(RetryInfoSchema)[0]?.retryDelay;
  const held = e
    .findDetails(PreconditionFailureSchema)
    .flatMap((failure) => failure.violations)
    .filter((v) => v.type === "SEAT_HELD")
    .map((v) => ({ seat: v.subject, description: v.description }));
  return {
    code: e.code,
    reason: info?.reason ?? "",
    message: e.rawMessage,
    field: violation?.field,
    description: violation?.description,
    retryAfterSeconds: retry ? Number(retry.seconds) : undefined,
    heldDevices: held,
    metadata: info?.metadata ?? {},
  };
}

/** Whether the session is gone (expired, signed out elsewhere): the page signs in again. */
export function sessionEnded(problem: Problem): boolean {
  return problem.code === Code.Unauthenticated && problem.reason !== "INVALID_CREDENTIALS";
}
