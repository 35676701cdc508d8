import type { ServerOptions } from 'node:http';
import type { FastifyServerOptions } from 'fastify';
import { ConfigError, type Env } from '../config/env.js';

/**
 * Node checks header and receive timeouts on a timer (every 30 s by default, which let a 60 s timeout run to
 * ~80 s). Checking ten times per shortest timeout keeps every timeout within 10% of its setting.
 */
const TIMEOUT_CHECKS_PER_TIMEOUT = 10;

/** The HTTP server's bounds on slow and idle clients, from the KEYWARD_HTTP_* settings. */
export function httpServerOptions(
  env: Env,
): Pick<FastifyServerOptions, 'requestTimeout' | 'keepAliveTimeout'> & { http: ServerOptions } {
  const headersMs = env.KEYWARD_HTTP_HEADERS_TIMEOUT_MS;
  const receiveMs = env.KEYWARD_HTTP_RECEIVE_TIMEOUT_MS;
  if (headersMs > receiveMs) {
    throw new ConfigError(
      `KEYWARD_HTTP_HEADERS_TIMEOUT_MS=${headersMs} must not exceed KEYWARD_HTTP_RECEIVE_TIMEOUT_MS=${receiveMs}`,
    );
  }
  return {
    requestTimeout: receiveMs,
    keepAliveTimeout: env.KEYWARD_HTTP_KEEP_ALIVE_TIMEOUT_MS,
    http: {
      headersTimeout: headersMs,
      connectionsCheckingInterval: Math.ceil(headersMs / TIMEOUT_CHECKS_PER_TIMEOUT),
      // keyward answers a request without Host itself, in the error envelope (Node's own 400 has no body).
      requireHostHeader: false,
    },
  };
}
