import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { errorEnvelope, GENERIC_CODES } from './errors.js';

/*
 * Answers written before Fastify has a request to answer with: Node's parser refused the bytes, the client
 * was too slow, or it asked for an expectation keyward cannot meet. Node's own answers to these are bare
 * (no body, or none in the envelope); these are the error envelope, with a request id, and close the
 * connection, since what follows on it cannot be trusted.
 */

function envelope(status: number, message: string) {
  const requestId = randomUUID();
  return { requestId, body: JSON.stringify(errorEnvelope(GENERIC_CODES[status]!, message, requestId)) };
}

const CLIENT_ERRORS: Record<string, { status: number; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, message: 'The request headers are too large.' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time.' },
};

/** Connections closed because their request came too slowly: the request they carried was not abandoned. */
const timedOut = new WeakSet<Duplex>();

export function closedForSlowness(socket: Duplex): boolean {
  return timedOut.has(socket);
}

/** Fastify's `clientErrorHandler`: requests Node's HTTP server refuses get the envelope too. */
export function answerClientError(this: FastifyInstance, error: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) return;
  const { status, message } = CLIENT_ERRORS[error.code ?? ''] ?? { status: 400, message: 'Malformed HTTP request.' };
  // A client too slow to send its request is worth a line (it held a connection); malformed bytes are noise.
  if (status === 408) {
    timedOut.add(socket);
    this.log.info({ code: error.code }, 'request not received in time: connection closed');
  }
  const { requestId, body } = envelope(status, message);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The server's `checkExpectation` listener: an `Expect` other than `100-continue` is a 417 (RFC 9110 §10.1.1). */
export function answerUnknownExpectation(request: IncomingMessage, response: ServerResponse): void {
  const { requestId, body } = envelope(417, 'Only "Expect: 100-continue" is supported.');
  response.shouldKeepAlive = false;
  response
    .writeHead(417, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      connection: 'close',
    })
    .end(body);
  request.resume(); // discard a body sent anyway
}
