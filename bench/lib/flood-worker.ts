/**
 * The second load generator of the bogus-key flood: sends bad keys (or, as a
 * control, a valid key) at a fixed rate from another client address
 * (127.0.0.2), so the failed-check limiter can block the flood without
 * blocking the valid load from 127.0.0.1. autocannon cannot choose its source
 * address, hence this small generator.
 */
import { performance } from 'node:perf_hooks';
import { generateKey } from '../../packages/member/src/key-format.js';
import { HttpConnection } from './http-connection.js';
import { sleep } from './util.js';
import { serveRequests } from './worker-side.js';

/** `valid` is the control: the same rate of requests, with a valid key. */
export type FloodKind = 'malformed' | 'unknown' | 'valid';

/** `prepare` makes the keys and opens the connections; `run` then floods, so the two never overlap a measurement. */
export type FloodCommand = ({ command: 'prepare' } & FloodRequest) | { command: 'run' };
export type FloodReply = { prepared: number } | FloodResult;

export interface FloodRequest {
  port: number;
  path: string;
  kind: FloodKind;
  /** Requests per second, all connections together. */
  rate: number;
  connections: number;
  durationSec: number;
  localAddress: string;
  /** The deployment's key prefix (keyward's default: kw). */
  keyPrefix: string;
  /** For the `valid` control. */
  validKey: string;
}

export interface FloodResult {
  sent: number;
  /** Requests due while every connection was still waiting for an answer (the server fell behind). */
  skipped: number;
  statusCounts: Record<string, number>;
  errors: number;
  durationSec: number;
  achievedRate: number;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function randomBase62(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[Math.floor(Math.random() * 62)];
  return out;
}

/**
 * Keys that fail the format or checksum check, in five shapes: noise of the
 * right length, a real-format key with one checksum character changed, another
 * deployment's prefix, too short, and far too long.
 */
function malformedKey(prefix: string, n: number): string {
  const real = generateKey(prefix).key;
  switch (n % 5) {
    case 0:
      return randomBase62(real.length);
    case 1: {
      const last = real[real.length - 1] === 'A' ? 'B' : 'A';
      return real.slice(0, -1) + last;
    }
    case 2:
      return 'zz' + real.slice(prefix.length);
    case 3:
      return 'nope';
    default:
      return real + randomBase62(150);
  }
}

/** Dispatch tick: requests due are handed to idle connections every few milliseconds (one timer, not one per connection). */
const TICK_MS = 2;

interface Prepared {
  request: FloodRequest;
  keys: string[];
  connections: HttpConnection[];
}

let prepared: Prepared | undefined;

async function prepare(request: FloodRequest): Promise<number> {
  for (const connection of prepared?.connections ?? []) connection.close();
  // Bounded in count as well as time. Keys are made here, before the flood and the
  // measurement, so that generating them (generateKey takes microseconds) competes with neither.
  const maxRequests = Math.ceil(request.rate * request.durationSec) + request.connections;
  const keys = Array.from({ length: maxRequests }, (_, n) => {
    if (request.kind === 'malformed') return malformedKey(request.keyPrefix, n);
    if (request.kind === 'unknown') return generateKey(request.keyPrefix).key;
    return request.validKey;
  });
  const connections = await Promise.all(
    Array.from({ length: request.connections }, () =>
      HttpConnection.open({ port: request.port, localAddress: request.localAddress }),
    ),
  );
  prepared = { request, keys, connections };
  return keys.length;
}

async function flood({ request, keys, connections }: Prepared): Promise<FloodResult> {
  const maxRequests = keys.length;
  const statusCounts: Record<string, number> = {};
  let sent = 0;
  let errors = 0;
  const idle = [...connections.keys()];
  const started = performance.now();
  const endAt = started + request.durationSec * 1000;
  // Open loop at a fixed rate: whatever is due by now goes out on idle connections, on every tick and
  // whenever an answer frees a connection. A request due while every connection is still waiting for
  // an answer (the server is not keeping up) is skipped and counted, not queued.
  let scheduled = 0;
  let skipped = 0;
  let running = true;
  const pump = () => {
    const now = performance.now();
    if (!running || now >= endAt) return;
    const due = Math.min(maxRequests, Math.floor(((now - started) / 1000) * request.rate));
    while (scheduled < due && idle.length > 0) {
      scheduled++;
      send(idle.pop()!);
    }
    // Older than one tick and still not sent: the connections were all busy.
    const late = Math.floor(((now - TICK_MS - started) / 1000) * request.rate);
    if (scheduled < late) {
      skipped += late - scheduled;
      scheduled = late;
    }
  };
  const send = (slot: number) => {
    const connection = connections[slot]!;
    connection.request('GET', request.path, { 'x-api-key': keys[sent++]! }).then(
      (response) => {
        statusCounts[response.status] = (statusCounts[response.status] ?? 0) + 1;
        idle.push(slot);
        pump();
      },
      () => {
        errors++;
        // Replace the broken connection; the slot stays busy until it is open again.
        HttpConnection.open({ port: request.port, localAddress: request.localAddress }).then(
          (fresh) => {
            connections[slot] = fresh;
            idle.push(slot);
          },
          () => errors++,
        );
      },
    );
  };
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (performance.now() >= endAt) {
        running = false;
        clearInterval(timer);
        resolve();
        return;
      }
      pump();
    }, TICK_MS);
  });
  const durationSec = (performance.now() - started) / 1000;
  // Let the last answers arrive (bounded), then close.
  for (let wait = 0; idle.length < connections.length && wait < 100; wait++) await sleep(10);
  for (const connection of connections) connection.close();
  return { sent, skipped, statusCounts, errors, durationSec, achievedRate: sent / durationSec };
}

serveRequests<FloodCommand>(async (command): Promise<FloodReply> => {
  if (command.command === 'prepare') return { prepared: await prepare(command) };
  if (!prepared) throw new Error('flood: run before prepare');
  const current = prepared;
  prepared = undefined;
  return flood(current);
});
