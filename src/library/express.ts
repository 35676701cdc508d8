import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { envelopeCode, errorEnvelope, REQUEST_ID_PATTERN } from '../errors.js';
import {
  isKeyRefusal,
  type ApiKeyChecker,
  type ApiKeyIdentity,
  type KeyCheckResult,
  type KeyRefusal,
} from './api-key-checker.js';

declare global {
  // Merges into Express's own Request type, the way Express's declarations are meant to be extended.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The caller's account and key, after `apiKeyMiddleware`. */
      apiKey?: ApiKeyIdentity;
    }
  }
}

/** What the middleware reads from and writes to an Express (or any Node.js HTTP) request. */
export interface KeyCheckedRequest extends IncomingMessage {
  /** Express's client address: honours its `trust proxy` setting. */
  ip?: string;
  apiKey?: ApiKeyIdentity;
}

export type NextFunction = (error?: unknown) => void;

/**
 * Express middleware over an open {@link ApiKeyChecker}: on a valid key it sets
 * `request.apiKey` and calls `next()`; otherwise it answers the refusal itself
 * (401, 429 with `Retry-After`, or 503) in keyward's error envelope
 * `{ error: { code, message, requestId } }`.
 */
export function apiKeyMiddleware(checker: ApiKeyChecker) {
  return function requireApiKey(request: KeyCheckedRequest, response: ServerResponse, next: NextFunction): void {
    const result = checker.check(
      request.headers['x-api-key'],
      request.ip ?? request.socket.remoteAddress,
      request.headers['user-agent'],
    );
    if (result instanceof Promise) result.then((settled) => finish(request, response, next, settled), next);
    else finish(request, response, next, result);
  };
}

function finish(request: KeyCheckedRequest, response: ServerResponse, next: NextFunction, result: KeyCheckResult) {
  if (!isKeyRefusal(result)) {
    request.apiKey = result;
    return next();
  }
  refuse(request, response, result);
}

function refuse(request: KeyCheckedRequest, response: ServerResponse, refusal: KeyRefusal): void {
  const incoming = request.headers['x-request-id'];
  const requestId = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
  const body = JSON.stringify(errorEnvelope(envelopeCode(refusal.code)!, refusal.message, requestId));
  response.statusCode = refusal.statusCode;
  if (refusal.retryAfterSeconds !== undefined) response.setHeader('retry-after', String(refusal.retryAfterSeconds));
  response.setHeader('content-type', 'application/json; charset=utf-8');
  response.setHeader('x-request-id', requestId);
  response.end(body);
}
