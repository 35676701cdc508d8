import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { CommitGuard } from '../db/database.js';
import { errorEnvelope, ServiceUnavailable } from './errors.js';

/**
 * A dashboard request's time limit. When it passes before the request's
 * transaction reached its commit, the client gets 503 and the transaction
 * can no longer commit; once committing, the request waits for the outcome
 * instead, so a 503 always means nothing was changed.
 */
export class RequestDeadline implements CommitGuard {
  /** Set once the body has been read and parsed: before, an expiry is the client's slowness. */
  bodyReceived = false;
  private expired = false;
  private committing = false;
  private readonly timer: NodeJS.Timeout;

  constructor(timeoutMs: number, onExpiry: () => void) {
    this.timer = setTimeout(() => {
      if (this.committing) return;
      this.expired = true;
      onExpiry();
    }, timeoutMs);
  }

  enterCommit(): void {
    if (this.expired) throw new ServiceUnavailable();
    this.committing = true;
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** On dashboard routes: pass it to the service so its transaction respects the request's time limit. */
    deadline?: RequestDeadline;
  }
}

export const managementDeadline = fp<{ timeoutMs: number }>(
  async (app: FastifyInstance, { timeoutMs }) => {
    async function startDeadline(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      request.deadline = new RequestDeadline(timeoutMs, () => {
        if (reply.sent) return;
        if (!request.deadline?.bodyReceived) {
          // The body is still arriving: the client is slow, the database has not even been asked.
          request.log.info({ timeoutMs }, 'request body not received before the deadline');
          const message = 'The request body was not received in time.';
          void reply
            .code(408)
            .header('connection', 'close')
            .send(errorEnvelope('request_timeout', message, request.id));
          return;
        }
        void reply.code(503).send(errorEnvelope('service_unavailable', new ServiceUnavailable().message, request.id));
      });
    }
    async function markBodyReceived(request: FastifyRequest): Promise<void> {
      if (request.deadline) request.deadline.bodyReceived = true;
    }
    app.addHook('onRoute', (route) => {
      if (route.config?.session || route.config?.csrf) {
        route.onRequest = [startDeadline, ...[route.onRequest ?? []].flat()];
        route.preValidation = [markBodyReceived, ...[route.preValidation ?? []].flat()];
      }
    });
    app.addHook('onResponse', async (request) => request.deadline?.clear());
  },
  { name: 'keyward-management-deadline' },
);
