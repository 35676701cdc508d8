import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * The reads the dashboard repeats on its own while a page is open (the keys page every 10 s, every 3 s while
 * a rotation is watched; the webhooks page every 3 s while a delivery is pending), as `METHOD route`.
 * src/dashboard/public/assets/key-polling.js and webhooks-page.js make them.
 */
export const DASHBOARD_POLLING_ROUTES: ReadonlySet<string> = new Set([
  'GET /v1/keys',
  'GET /v1/keys/:keyId/usage',
  'GET /v1/webhooks',
  'GET /v1/webhooks/:webhookId/deliveries',
]);

function isDashboardPoll(request: FastifyRequest): boolean {
  return DASHBOARD_POLLING_ROUTES.has(`${request.method} ${request.routeOptions.url}`);
}

/**
 * Fastify's request log lines, with the dashboard's own polling at `debug` instead of `info`: an open
 * dashboard otherwise writes two lines every few seconds (3,393 lines in 17 minutes of a first run), and
 * the API traffic a developer came to see drowns in them. A poll that fails is logged as any request is.
 */
export class QuietDashboardPolling extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    if (isDashboardPoll(request)) request.log.debug({ req: request }, 'incoming request');
    else super.incomingRequest(request, reply);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (!error && reply.statusCode < 400 && isDashboardPoll(request)) {
      reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
    } else super.requestCompleted(error, request, reply);
  }
}
