/**
 * A real webhook receiver for tests: an HTTP server on loopback that records every request (headers and raw
 * body) and answers as the test says (a status, or no answer until released).
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { Webhook } from 'standardwebhooks';
import { eventually } from './wait.js';

export interface ReceivedRequest {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** What the next requests get: a status code, or 'hang' (no answer until release() or the sender gives up). */
  answer: number | 'hang';
  /** Answers every hanging request with 200. */
  release(): void;
  /** The parsed bodies of requests of one event type, each checked as a receiver would check it. */
  events(type?: string): Array<{ type: string; timestamp: string; data: Record<string, unknown> }>;
  waitFor(count: number, type?: string, timeoutMs?: number): Promise<boolean>;
}

/** Checks a delivery exactly as a receiver using the `standardwebhooks` package would; throws if it fails. */
export function verifyDelivery(secret: string, request: ReceivedRequest): unknown {
  const headers = {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  };
  return new Webhook(secret).verify(request.body, headers);
}

export async function startReceiver(t: Test, answer: number | 'hang' = 200): Promise<Receiver> {
  const hanging: ServerResponse[] = [];
  const requests: ReceivedRequest[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ at: Date.now(), headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (receiver.answer === 'hang') hanging.push(response);
      else response.writeHead(receiver.answer).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    answer,
    release() {
      for (const response of hanging.splice(0)) if (!response.destroyed) response.writeHead(200).end();
    },
    events(type) {
      return requests
        .map(
          (request) => JSON.parse(request.body) as { type: string; timestamp: string; data: Record<string, unknown> },
        )
        .filter((event) => type === undefined || event.type === type);
    },
    waitFor(count, type, timeoutMs = 10_000) {
      return eventually(() => receiver.events(type).length >= count, timeoutMs);
    },
  };
  return receiver;
}

/** Settings that make the worker quick in tests; private networks allowed so loopback receivers work. */
export const FAST_WEBHOOKS = {
  KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  KEYWARD_WEBHOOK_POLL_INTERVAL_MS: '50',
  KEYWARD_WEBHOOK_BACKOFF_BASE_MS: '100',
  KEYWARD_WEBHOOK_TIMEOUT_MS: '2000',
};
