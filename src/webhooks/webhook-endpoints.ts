import { randomUUID } from 'node:crypto';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { boundedTransaction, type CommitGuard, type Database, type TransactionLimits } from '../db/database.js';
import { accounts, users, webhookAttempts, webhookDeliveries, webhookEndpoints } from '../db/schema.js';
import { WebhookLimitReached, WebhookNotFound, WebhookUrlRefused } from '../http/errors.js';
import { checkWebhookUrl, WebhookAddressRefused, type WebhookAddressPolicy } from './address-policy.js';
import { generateSigningSecret, type SigningSecretBox } from './signing.js';
import { recordAudit, type Actor, type WebhookEventType } from '../audit/audit-log.js';

export interface WebhookEndpointView {
  id: string;
  url: string;
  createdAt: Date;
  createdBy: string | null;
}

export interface WebhookAttemptView {
  attemptedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  retryAt: Date | null;
}

/** The JSON body of a delivery (see src/audit/audit-log.ts). */
export interface WebhookPayload {
  type: string;
  timestamp: string;
  data: Record<string, string | number | null>;
}

export interface WebhookDeliveryView {
  id: string;
  messageId: string;
  eventType: WebhookEventType;
  status: 'pending' | 'delivered' | 'failed';
  createdAt: Date;
  nextAttemptAt: Date | null;
  endedAt: Date | null;
  attempts: WebhookAttemptView[];
  payload: WebhookPayload;
}

/** Webhook endpoints of an account: register (the signing secret shown once), list, delete, and deliveries. */
export class WebhookService {
  constructor(
    private readonly db: Database,
    private readonly box: SigningSecretBox,
    private readonly policy: WebhookAddressPolicy,
    private readonly maxEndpoints: number,
    private readonly limits: TransactionLimits,
  ) {}

  /** Registers an endpoint; the returned `secret` is the only time it leaves keyward unencrypted. */
  async createEndpoint(
    input: { accountId: string; actor: Actor; url: string },
    guard?: CommitGuard,
  ): Promise<{ secret: string; endpoint: WebhookEndpointView }> {
    let url: URL;
    try {
      url = await checkWebhookUrl(input.url, this.policy); // DNS before the transaction: never hold locks across it
    } catch (error) {
      if (error instanceof WebhookAddressRefused) throw new WebhookUrlRefused(error.message);
      throw error;
    }
    const id = randomUUID();
    const secret = generateSigningSecret();
    await boundedTransaction(this.db, this.limits, guard, async (tx) => {
      // The account row serialises registrations, so the limit holds under concurrent calls.
      await tx.select({ id: accounts.id }).from(accounts).where(eq(accounts.id, input.accountId)).for('no key update');
      const [{ count } = { count: 0 }] = await tx
        .select({ count: sql<number>`count(*)`.mapWith(Number) })
        .from(webhookEndpoints)
        .where(eq(webhookEndpoints.accountId, input.accountId));
      if (count >= this.maxEndpoints) throw new WebhookLimitReached(this.maxEndpoints);
      await tx.insert(webhookEndpoints).values({
        id,
        accountId: input.accountId,
        url: url.href,
        secretCiphertext: this.box.seal(secret, id),
        createdBy: input.actor.userId,
      });
      await recordAudit(tx, input.actor, {
        accountId: input.accountId,
        action: 'webhook.created',
        details: { webhookId: id, url: url.href },
      });
    });
    const [endpoint] = await this.selectEndpoints(input.accountId, id);
    return { secret, endpoint: endpoint! };
  }

  async listEndpoints(accountId: string): Promise<WebhookEndpointView[]> {
    return this.selectEndpoints(accountId);
  }

  private selectEndpoints(accountId: string, id?: string) {
    return this.db
      .select({
        id: webhookEndpoints.id,
        url: webhookEndpoints.url,
        createdAt: webhookEndpoints.createdAt,
        createdBy: users.email,
      })
      .from(webhookEndpoints)
      .leftJoin(users, eq(users.id, webhookEndpoints.createdBy))
      .where(and(eq(webhookEndpoints.accountId, accountId), id === undefined ? undefined : eq(webhookEndpoints.id, id)))
      .orderBy(desc(webhookEndpoints.createdAt), desc(webhookEndpoints.id));
  }

  /**
   * Deletes an endpoint. Its deliveries go with it (ON DELETE CASCADE), so pending ones are never sent; an
   * attempt already on the wire finishes, and its record finds no row to update.
   */
  async deleteEndpoint(input: { accountId: string; actor: Actor; id: string }, guard?: CommitGuard): Promise<void> {
    await boundedTransaction(this.db, this.limits, guard, async (tx) => {
      const [row] = await tx
        .delete(webhookEndpoints)
        .where(and(eq(webhookEndpoints.id, input.id), eq(webhookEndpoints.accountId, input.accountId)))
        .returning({ url: webhookEndpoints.url });
      if (!row) throw new WebhookNotFound();
      await recordAudit(tx, input.actor, {
        accountId: input.accountId,
        action: 'webhook.deleted',
        details: { webhookId: input.id, url: row.url },
      });
    });
  }

  /** An endpoint's latest deliveries, newest first, each with every attempt (oldest first). */
  async listDeliveries(accountId: string, endpointId: string, limit: number): Promise<WebhookDeliveryView[]> {
    const [endpoint] = await this.db
      .select({ id: webhookEndpoints.id })
      .from(webhookEndpoints)
      .where(and(eq(webhookEndpoints.id, endpointId), eq(webhookEndpoints.accountId, accountId)));
    if (!endpoint) throw new WebhookNotFound();
    const deliveries = await this.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.endpointId, endpointId))
      .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
      .limit(limit);
    const attempts =
      deliveries.length === 0
        ? []
        : await this.db
            .select()
            .from(webhookAttempts)
            .where(
              inArray(
                webhookAttempts.deliveryId,
                deliveries.map((delivery) => delivery.id),
              ),
            )
            .orderBy(webhookAttempts.id);
    return deliveries.map((delivery) => ({
      id: delivery.id,
      messageId: delivery.messageId,
      eventType: delivery.eventType as WebhookEventType,
      status: delivery.status,
      createdAt: delivery.createdAt,
      nextAttemptAt: delivery.status === 'pending' ? delivery.nextAttemptAt : null,
      endedAt: delivery.endedAt,
      payload: delivery.payload as unknown as WebhookPayload,
      attempts: attempts
        .filter((attempt) => attempt.deliveryId === delivery.id)
        .map((attempt) => ({
          attemptedAt: attempt.attemptedAt,
          durationMs: attempt.durationMs,
          statusCode: attempt.statusCode,
          error: attempt.error,
          retryAt: attempt.retryAt,
        })),
    }));
  }
}
