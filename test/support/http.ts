/**
 * keyward over HTTP: the error envelope check, a time bound on every request, raw bytes on a socket, and
 * signing up and creating a key as a browser would.
 */
import { connect } from 'node:net';
import { sleep } from './wait.js';

export interface InjectedResponse {
  statusCode: number;
  body: string;
  headers: Record<string, string | string[] | number | undefined>;
}

/**
 * Why a response is not keyward's error envelope `{"error":{"code","message","requestId"}}` (with the
 * requestId of its x-request-id header, unless `header: false`), or undefined when it is.
 */
export function envelopeProblem(response: InjectedResponse, { header = true } = {}): string | undefined {
  const contentType = String(response.headers['content-type'] ?? '');
  if (!contentType.startsWith('application/json')) return `content-type is "${contentType}"`;
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch {
    return `body is not JSON: ${response.body.slice(0, 100)}`;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not an object';
  if (Object.keys(body).join(',') !== 'error') return `top-level keys are ${Object.keys(body).join(',')}`;
  const error = (body as { error: unknown }).error;
  if (typeof error !== 'object' || error === null) return 'error is not an object';
  const keys = Object.keys(error).sort().join(',');
  if (keys !== 'code,message,requestId') return `error keys are ${keys}`;
  const { code, message, requestId } = error as Record<string, unknown>;
  if (typeof code !== 'string' || !/^[a-z][a-z_]*$/.test(code)) return `code is ${JSON.stringify(code)}`;
  if (typeof message !== 'string' || message.length === 0) return 'message is empty';
  if (typeof requestId !== 'string' || requestId.length === 0) return 'requestId is empty';
  if (header && response.headers['x-request-id'] !== requestId) {
    return `requestId differs from the x-request-id header (${response.headers['x-request-id']})`;
  }
  return undefined;
}

/** The error of keyward's envelope. */
export function errorOf(response: InjectedResponse): { code: string; message: string; requestId: string } {
  return (JSON.parse(response.body) as { error: { code: string; message: string; requestId: string } }).error;
}

/** Rejects when the promise has not settled after `ms`: a hang is a failure, never a stuck test run. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Percent-encodes every byte outside the URL's unreserved set, except those in `keep`. */
export function encodeBytes(value: string, keep = ''): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(char) || (byte < 0x80 && keep.includes(char))) out += char;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A JSON object's text from its entries, so that keys such as `__proto__` are really sent. */
export function objectText(entries: Array<[string, unknown]>): string {
  const members = entries
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`);
  return `{${members.join(',')}}`;
}

/** The password tests sign up with. */
export const PASSWORD = 'correct horse battery';

export interface SignUpFields {
  email: string;
  password?: string;
  accountName?: string;
}

/** POST /v1/signup to a keyward reachable over HTTP (a process or a listening app); the answer as it comes. */
export function signUpOverRequest(
  baseUrl: string,
  { email, password = PASSWORD, accountName = 'Acme' }: SignUpFields,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${baseUrl}/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email, password, accountName }),
  });
}

/** Signs up over HTTP as a browser would; throws unless it answered 201. */
export async function signUpOver(baseUrl: string, email: string, accountName = 'Acme') {
  const response = await signUpOverRequest(baseUrl, { email, accountName });
  if (response.status !== 201) throw new Error(`sign-up failed: ${response.status} ${await response.text()}`);
  const setCookie = response.headers.get('set-cookie')!;
  const body = (await response.json()) as { account: { id: string } };
  return { status: response.status, cookie: setCookie.split(';')[0]!, setCookie, accountId: body.account.id };
}

export async function createKeyOver(baseUrl: string, cookie: string, name = 'production'): Promise<string> {
  const response = await fetch(`${baseUrl}/v1/keys`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (response.status !== 201) throw new Error(`create key failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { apiKey: string }).apiKey;
}

export interface RawAnswer {
  /** Everything the server sent, as latin1. */
  text: string;
  status?: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (it did not wait for more of the request). */
  closed: boolean;
}

/** Splits one HTTP/1.1 answer read off a socket. */
export function parseRawAnswer(text: string, closed: boolean): RawAnswer {
  const headEnd = text.indexOf('\r\n\r\n');
  const head = headEnd === -1 ? text : text.slice(0, headEnd);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    text,
    status: status ? Number(status) : undefined,
    headers,
    body: headEnd === -1 ? '' : text.slice(headEnd + 4),
    closed,
  };
}

/**
 * Writes `chunks` to a fresh TCP connection, `gapMs` apart (a slow or hostile client), and collects what the
 * server sends until it closes the connection or `waitMs` passes. Never hangs: `closed` says which it was.
 */
export function rawExchange(
  port: number,
  chunks: Array<string | Buffer>,
  { gapMs = 0, waitMs = 5000, endAfterWriting = false } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let text = '';
    let settled = false;
    const socket = connect(port, '127.0.0.1');
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseRawAnswer(text, closed));
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => finish(true));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      ['EPIPE', 'ECONNRESET'].includes(error.code ?? '') ? finish(true) : reject(error),
    );
    socket.on('connect', async () => {
      for (const [index, chunk] of chunks.entries()) {
        if (settled || socket.destroyed) return;
        if (index > 0 && gapMs > 0) await sleep(gapMs);
        if (!socket.destroyed) socket.write(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
      }
      if (endAfterWriting && !socket.destroyed) socket.end();
    });
  });
}
