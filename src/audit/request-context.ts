import type { FastifyRequest } from 'fastify';
import type { Actor, ClientContext } from './audit-log.js';

/** Where a request came from, for the audit log. */
export function clientOf(request: FastifyRequest): ClientContext {
  return { clientAddress: request.ip, userAgent: request.headers['user-agent'] ?? null };
}

/** The signed-in user making a request (session routes only). */
export function actorOf(request: FastifyRequest): Actor {
  return { ...clientOf(request), userId: request.sessionUser.userId, email: request.sessionUser.email };
}
