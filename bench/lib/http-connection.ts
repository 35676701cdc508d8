import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface HttpResponse {
  status: number;
  /** The status line and headers as received (read them with `headerValues`). */
  head: string;
  body: string;
  /** performance.now() just before the request was written. */
  sentAt: number;
  /** performance.now() when the whole response had been read. */
  receivedAt: number;
}

/** Every value of a response header (case-insensitive name). */
export function headerValues(response: HttpResponse, name: string): string[] {
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (const line of response.head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted) values.push(line.slice(colon + 1).trim());
  }
  return values;
}

export interface ConnectOptions {
  port: number;
  /** Source address, e.g. 127.0.0.2 so that a flood comes from another client address than the valid load. */
  localAddress?: string;
  /** Longest the connection may wait for an answer. */
  timeoutMs?: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:/i;
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i;

interface Pending {
  resolve: (response: HttpResponse) => void;
  reject: (error: Error) => void;
  sentAt: number;
}

/**
 * One keep-alive HTTP/1.1 connection to 127.0.0.1 with one request in flight
 * at a time. Node's own client (and fetch) cost several times more CPU per
 * request; this keeps the client's share of the 2 cores small, so single-request
 * timings, revocation polling and the flood measure the server. It understands
 * only what the bench's servers send: responses framed by Content-Length.
 */
export class HttpConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (error: Error) => {
      this.closed = true;
      this.settle(undefined, error);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
    // One idle timer per socket (re-armed by traffic), not one timer per request.
    socket.on('timeout', () => {
      if (!this.pending) return;
      fail(new Error('request timed out'));
      socket.destroy();
    });
  }

  static open(options: ConnectOptions): Promise<HttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: options.port, localAddress: options.localAddress });
      socket.setTimeout(5000);
      const onError = (error: Error) => reject(error);
      socket.once('timeout', () => socket.destroy(new Error(`connect to 127.0.0.1:${options.port} timed out`)));
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.removeAllListeners('timeout');
        socket.off('error', onError);
        socket.setTimeout(options.timeoutMs ?? 10_000);
        resolve(new HttpConnection(socket));
      });
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  request(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<HttpResponse> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    if (this.pending) return Promise.reject(new Error('one request at a time'));
    let raw = `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n`;
    for (const name in headers) raw += `${name}: ${headers[name]}\r\n`;
    if (body !== undefined) raw += `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    else raw += '\r\n';
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, sentAt: performance.now() };
      this.socket.write(raw);
    });
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private settle(response: HttpResponse | undefined, error?: Error): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    if (response) pending.resolve(response);
    else pending.reject(error ?? new Error('no response'));
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headerEnd = this.buffer.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.buffer.toString('latin1', 0, headerEnd);
    if (CHUNKED.test(head)) {
      this.settle(undefined, new Error('chunked responses are not supported by the bench client'));
      this.close();
      return;
    }
    const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
    const bodyStart = headerEnd + HEADER_END.length;
    if (this.buffer.length < bodyStart + length) return;
    const body = this.buffer.toString('utf8', bodyStart, bodyStart + length);
    this.buffer = this.buffer.subarray(bodyStart + length);
    const receivedAt = performance.now();
    const status = Number(head.slice(9, 12)); // "HTTP/1.1 200 OK"
    this.settle({ status, head, body, sentAt: this.pending?.sentAt ?? receivedAt, receivedAt });
    if (CONNECTION_CLOSE.test(head)) this.close();
  }
}
