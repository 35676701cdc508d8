/**
 * `@keyward/member/express`: middleware over the framework-neutral checker.
 *
 *   const checker = await openApiKeyChecker({ keywardUrl, credential, redisUrl });
 *   app.get('/orders', apiKeyMiddleware(checker), (req, res) => res.json({ account: req.apiKey?.accountId }));
 *   app.get('/invoices', apiKeyMiddleware(checker, { scopes: ['invoices:read'] }), handler);   // 403 without it
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isKeyRefusal, type ApiKeyChecker, type KeyCheckResult } from './api-key-checker.js';
import { missingScopesOf, type ApiKeyIdentity } from './key-restriction.js';
import { insufficientScope, refusalEnvelope, refusalHeaders, REQUEST_ID_PATTERN, type KeyRefusal } from './refusals.js';

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
  /** Express's client address: honours its `trust proxy` setting. (`| undefined`: Express's own type says so.) */
  ip?: string | undefined;
  apiKey?: ApiKeyIdentity | undefined;
}

export type NextFunction = (error?: unknown) => void;

/**
 * Express middleware over an open {@link ApiKeyChecker}: on a valid key (with every scope of `scopes`) it
 * sets `request.apiKey` and calls `next()`; otherwise it answers the refusal itself (401, 403, 429 with
 * `Retry-After`, or 503) in keyward's error envelope.
 */
export function apiKeyMiddleware(checker: ApiKeyChecker, options: { scopes?: readonly string[] } = {}) {
  const required = options.scopes ?? [];
  const finish = (request: KeyCheckedRequest, response: ServerResponse, next: NextFunction, result: KeyCheckResult) => {
    if (isKeyRefusal(result)) return refuse(request, response, result);
    const missing = missingScopesOf(result, required);
    if (missing.length > 0) return refuse(request, response, insufficientScope(missing));
    request.apiKey = result;
    next();
  };
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

/** The caller of a request the middleware let through, or undefined. */
export function getApiKey(request: KeyCheckedRequest): ApiKeyIdentity | undefined {
  return request.apiKey;
}

function refuse(request: KeyCheckedRequest, response: ServerResponse, refusal: KeyRefusal): void {
  const incoming = request.headers['x-request-id'];
  const requestId = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
  response.statusCode = refusal.statusCode;
  refusalHeaders(refusal, (name, value) => response.setHeader(name, value));
  response.setHeader('content-type', 'application/json; charset=utf-8');
  response.setHeader('x-request-id', requestId);
  response.end(JSON.stringify(refusalEnvelope(refusal, requestId)));
}

export * from './index.js';
