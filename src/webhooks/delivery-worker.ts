import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { and, eq, inArray, lte, notInArray, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/database.js';
import { webhookAttempts, webhookDeliveries, webhookEndpoints } from '../db/schema.js';
import {
  checkLiteralAtDelivery,
  connectLookup,
  type ConnectLookup,
  type WebhookAddressPolicy,
} from './address-policy.js';
import { signatureHeaders, type SigningSecretBox } from './signing.js';
import { storableText } from '../../packages/member/src/cut-text.js';

/** The worker's bounds, all from src/config/env.ts (KEYWARD_WEBHOOK_*). */
export interface DeliverySettings {
  timeoutMs: number;
  concurrency: number;
  pollIntervalMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxAgeSeconds: number;
}

interface ClaimedDelivery {
  id: string;
  endpointId: string;
  messageId: string;
  payload: Record<string, unknown>;
  attempts: number;
  createdAt: Date;
  url: string;
  secretCiphertext: string;
}

/** How much of an error is kept in an attempt's record. */
const MAX_ERROR_LENGTH = 200;

/**
 * The wait before the next attempt after `attempts` failed ones: base × 2^(attempts−1), capped, less a
 * random part of up to half of it. So consecutive waits grow strictly (each lies in (d/2, d], the next in
 * (d, 2d]) until the cap, and a fleet's retries after an outage are spread out rather than synchronised.
 */
export function retryDelayMs(attempts: number, settings: Pick<DeliverySettings, 'backoffBaseMs' | 'backoffMaxMs'>) {
  const full = Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** Math.min(attempts - 1, 40));
  return Math.ceil(full - Math.random() * (full / 2));
}

/**
 * Sends the webhook outbox, on every instance. Each poll claims due deliveries with `FOR UPDATE SKIP
 * LOCKED` and moves their `next_attempt_at` a lease ahead in the same transaction, so two instances never
 * claim the same delivery while it is in flight; an instance that dies mid-attempt leaves it to be claimed
 * again once the lease ends (at least once). At most `concurrency` deliveries are in flight per instance and
 * at most one per endpoint, each bounded by `timeoutMs`: a slow receiver holds one slot, never the others'
 * deliveries. Every attempt is recorded with its status code or error and duration.
 */
export class WebhookDeliveryWorker {
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<unknown> = Promise.resolve();
  private readonly inFlight = new Map<string, Promise<void>>();
  private closed = false;
  private readonly lookup: ConnectLookup;
  /** A claim outlives the longest attempt by a margin, so it never lapses while its attempt still runs. */
  private readonly leaseSeconds: number;

  constructor(
    private readonly db: Database,
    private readonly box: SigningSecretBox,
    private readonly policy: WebhookAddressPolicy,
    private readonly settings: DeliverySettings,
    private readonly log: FastifyBaseLogger,
  ) {
    this.lookup = connectLookup(policy);
    this.leaseSeconds = Math.ceil((settings.timeoutMs * 2) / 1000) + 5;
  }

  /** Polls every `pollIntervalMs` until close(). */
  start(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll()
        .catch((error: unknown) => this.log.warn({ err: error }, 'webhook delivery poll failed'))
        .finally(() => this.schedule());
    }, this.settings.pollIntervalMs);
    this.timer.unref();
  }

  /** Claims what is due and starts sending it (without waiting for the answers); returns how many. */
  async poll(): Promise<number> {
    const free = this.settings.concurrency - this.inFlight.size;
    if (free <= 0 || this.closed) return 0;
    const claimed = await this.claim(free);
    for (const delivery of claimed) {
      const sending = this.send(delivery)
        .catch((error: unknown) =>
          this.log.warn({ err: error, deliveryId: delivery.id }, 'webhook attempt not recorded'),
        )
        .finally(() => this.inFlight.delete(delivery.endpointId));
      this.inFlight.set(delivery.endpointId, sending);
    }
    return claimed.length;
  }

  /** Resolves when every delivery now in flight has been attempted and recorded (for tests). */
  async idle(): Promise<void> {
    await Promise.all(this.inFlight.values());
  }

  private async claim(limit: number): Promise<ClaimedDelivery[]> {
    const busy = [...this.inFlight.keys()];
    const due = and(eq(webhookDeliveries.status, 'pending'), lte(webhookDeliveries.nextAttemptAt, sql`now()`));
    // One candidate per endpoint (its oldest due delivery), read without locks; then those still due are
    // locked, skipping any another instance is claiming right now, and leased.
    const candidates = await this.db
      .selectDistinctOn([webhookDeliveries.endpointId], { id: webhookDeliveries.id })
      .from(webhookDeliveries)
      .where(and(due, busy.length === 0 ? undefined : notInArray(webhookDeliveries.endpointId, busy)))
      .orderBy(webhookDeliveries.endpointId, webhookDeliveries.nextAttemptAt)
      .limit(limit * 4);
    if (candidates.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const locked = await tx
        .select({ id: webhookDeliveries.id })
        .from(webhookDeliveries)
        .where(
          and(
            due,
            inArray(
              webhookDeliveries.id,
              candidates.map((candidate) => candidate.id),
            ),
          ),
        )
        .orderBy(webhookDeliveries.nextAttemptAt)
        .limit(limit)
        .for('update', { skipLocked: true });
      if (locked.length === 0) return [];
      const leased = await tx
        .update(webhookDeliveries)
        .set({ nextAttemptAt: sql`now() + make_interval(secs => ${this.leaseSeconds})` })
        .where(
          inArray(
            webhookDeliveries.id,
            locked.map((row) => row.id),
          ),
        )
        .returning({
          id: webhookDeliveries.id,
          endpointId: webhookDeliveries.endpointId,
          messageId: webhookDeliveries.messageId,
          payload: webhookDeliveries.payload,
          attempts: webhookDeliveries.attempts,
          createdAt: webhookDeliveries.createdAt,
        });
      const endpoints = await tx
        .select({
          id: webhookEndpoints.id,
          url: webhookEndpoints.url,
          secretCiphertext: webhookEndpoints.secretCiphertext,
        })
        .from(webhookEndpoints)
        .where(
          inArray(
            webhookEndpoints.id,
            leased.map((row) => row.endpointId),
          ),
        );
      return leased.flatMap((row) => {
        const endpoint = endpoints.find((candidate) => candidate.id === row.endpointId);
        return endpoint ? [{ ...row, url: endpoint.url, secretCiphertext: endpoint.secretCiphertext }] : [];
      });
    });
  }

  private async send(delivery: ClaimedDelivery): Promise<void> {
    const attemptedAt = new Date();
    const started = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const url = new URL(delivery.url);
      checkLiteralAtDelivery(url, this.policy);
      const secret = this.box.open(delivery.secretCiphertext, delivery.endpointId);
      // Serialised anew on every attempt from the same jsonb value: the same bytes each time.
      const body = JSON.stringify(delivery.payload);
      const headers = signatureHeaders(secret, delivery.messageId, Math.floor(Date.now() / 1000), body);
      statusCode = await this.post(url, body, headers);
    } catch (caught) {
      error = describeError(caught, this.settings.timeoutMs);
    }
    const durationMs = Math.round(performance.now() - started);
    await this.record(delivery, { attemptedAt, durationMs, statusCode, error });
  }

  /**
   * One POST, bounded as a whole by the timeout (connect, send, answer). Redirects are not followed (a 3xx
   * is a failed attempt): following one would send keyward wherever the receiver says, unchecked. The
   * response body is never read. A connection of its own (no agent): the address it connects to is the one
   * `lookup` just checked.
   */
  private post(url: URL, body: string, headers: Record<string, string>): Promise<number> {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const request = send(
        url,
        {
          method: 'POST',
          agent: false,
          lookup: this.lookup as never,
          signal: AbortSignal.timeout(this.settings.timeoutMs),
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'keyward-webhooks',
          },
        },
        (response) => {
          resolve(response.statusCode ?? 0);
          response.destroy();
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  private async record(
    delivery: ClaimedDelivery,
    attempt: { attemptedAt: Date; durationMs: number; statusCode: number | null; error: string | null },
  ): Promise<void> {
    const attempts = delivery.attempts + 1;
    const delivered = attempt.statusCode !== null && attempt.statusCode >= 200 && attempt.statusCode < 300;
    let retryAt: Date | null = null;
    if (!delivered) {
      const next = new Date(Date.now() + retryDelayMs(attempts, this.settings));
      if (next.getTime() <= delivery.createdAt.getTime() + this.settings.maxAgeSeconds * 1000) retryAt = next;
    }
    await this.db.transaction(async (tx) => {
      // Only while still pending: a deleted endpoint took its deliveries along, and then nothing is recorded.
      const [updated] = await tx
        .update(webhookDeliveries)
        .set(
          retryAt === null
            ? { attempts, status: delivered ? 'delivered' : 'failed', endedAt: sql`now()` }
            : { attempts, nextAttemptAt: retryAt },
        )
        .where(and(eq(webhookDeliveries.id, delivery.id), eq(webhookDeliveries.status, 'pending')))
        .returning({ id: webhookDeliveries.id });
      if (!updated) return;
      await tx.insert(webhookAttempts).values({ deliveryId: delivery.id, ...attempt, retryAt });
    });
    if (!delivered) {
      this.log.info(
        { deliveryId: delivery.id, statusCode: attempt.statusCode, error: attempt.error, retryAt },
        retryAt === null ? 'webhook delivery failed for good' : 'webhook attempt failed; retrying later',
      );
    }
  }

  /** Stops polling and waits for the attempts in flight (each ends within the timeout) to be recorded. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.polling;
    await this.idle();
  }
}

function describeError(error: unknown, timeoutMs: number): string {
  const { name, code, message } = error as { name?: string; code?: string; message?: string };
  if (name === 'TimeoutError' || name === 'AbortError') return `timeout: no answer within ${timeoutMs} ms`;
  const text = code && message ? `${code}: ${message}` : (message ?? String(error));
  return storableText(text, MAX_ERROR_LENGTH);
}
