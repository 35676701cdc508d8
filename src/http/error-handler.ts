import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { sqlState } from '../db/database.js';
import { closedForSlowness } from './raw-answers.js';
import { envelopeCode, errorEnvelope, GENERIC_CODES, RouteNotFound, ServiceUnavailable } from './errors.js';
import { refusalHeaders, type RefusalLike } from '../../packages/member/src/refusals.js';

/** SQLSTATE classes and driver codes that mean "the database could not do it now", not "bad request". */
function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      // connection lost, server shutting down or out of resources, statement or lock timeout, session ended,
      // transaction rolled back by Postgres (deadlock, serialization): none committed, all worth a retry
      if (/^(08|57P0|53|40)/.test(code) || ['57014', '55P03', '25P03'].includes(code)) return true;
      if (
        [
          'ECONNREFUSED',
          'ECONNRESET',
          'ETIMEDOUT',
          'CONNECT_TIMEOUT',
          'CONNECTION_CLOSED',
          'CONNECTION_ENDED',
          'CONNECTION_DESTROYED',
        ].includes(code)
      ) {
        return true;
      }
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by the dashboard: answers a browser's request for an unknown address with an HTML page (404). */
    notFoundPage?: (request: FastifyRequest, reply: FastifyReply) => FastifyReply;
  }
}

/** A browser navigating (Accept lists text/html), as opposed to an API client. */
function asksForHtml(request: FastifyRequest): boolean {
  return /(^|,)\s*text\/html\s*(;|,|$)/.test(request.headers.accept ?? '');
}

/** nginx's status for "client closed request": in metrics it tells a client that gave up from a failure. */
export const CLIENT_CLOSED_REQUEST = 499;

function closedBeforeComplete(request: FastifyRequest): boolean {
  return !request.raw.complete && request.raw.destroyed;
}

/**
 * One error envelope everywhere: `{"error":{"code","message","requestId"}}`.
 * 5xx details are logged with the request, never sent.
 */
export const errorHandler = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      let status = error.statusCode ?? 500;
      let code = envelopeCode(error.code);
      let message = error.message;
      if (error.validation) {
        status = 400;
        code = 'invalid_request';
      } else if (closedBeforeComplete(request)) {
        // Its socket is gone, so no one reads this answer: it is for the log and the metrics, where a client
        // that gave up (ECONNRESET while reading its body) must not look like a database outage.
        status = CLIENT_CLOSED_REQUEST;
        code = 'client_closed_request';
        message = 'The client closed the connection before its request was complete.';
        if (!closedForSlowness(request.socket)) {
          request.log.info('client closed the connection before its request was complete');
        }
      } else if (code !== undefined) {
        // keyward's own errors, 503s included: their messages are written for clients
      } else if (['22021', '22P05'].includes(sqlState(error) ?? '')) {
        // Text Postgres cannot store (a NUL character): the client's input, not our failure.
        status = 400;
        code = 'invalid_request';
        message = 'The request contains characters that cannot be stored (such as U+0000).';
      } else if (isDatabaseUnavailable(error)) {
        status = 503;
        code = 'service_unavailable';
        message = new ServiceUnavailable().message; // a change is one transaction: it did not commit
        request.log.warn({ err: error }, 'database unavailable');
      } else if (status >= 500) {
        code = 'internal_error';
        message = 'Something went wrong on our side. Quote the requestId if you contact support.';
        request.log.error({ err: error }, 'request failed');
      } else {
        code = GENERIC_CODES[status] ?? 'invalid_request';
      }
      refusalHeaders(error as RefusalLike, (name, value) => void reply.header(name, value));
      return reply.code(status).send(errorEnvelope(code, message, request.id));
    });

    app.setNotFoundHandler((request, reply) => {
      // A person who followed a bad link gets a page; API clients (Accept: application/json, */*) the envelope.
      if (app.notFoundPage && (request.method === 'GET' || request.method === 'HEAD') && asksForHtml(request)) {
        return app.notFoundPage(request, reply);
      }
      throw new RouteNotFound(request.method, request.url.split('?')[0] ?? '/');
    });
  },
  { name: 'keyward-error-handler' },
);
