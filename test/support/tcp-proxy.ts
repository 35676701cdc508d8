import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Test } from 'tap';

/**
 * A TCP proxy a test controls, to cut a service (Postgres, Redis) off from
 * the app without touching the shared service itself.
 *
 * - `cut()`: destroys every open connection and refuses new ones (like a
 *   crashed server or a reset firewall rule).
 * - `blackhole()`: keeps connections open but forwards nothing, either way
 *   (like a partition: requests hang until a timeout).
 * - `loseAnswersAfter(marker)`: forwards, until a client sends bytes holding
 *   `marker`; from then on the client's bytes still arrive but no answer comes
 *   back (a reply lost in a partition, e.g. to a COMMIT that did commit).
 * - `cutAfter(marker)`: forwards, until a client sends bytes holding `marker`:
 *   those arrive, then everything is cut (a crash at that exact moment).
 *   Either cut can reset the connections instead of closing them.
 * - `restore()`: back to forwarding.
 */
export class TcpProxy {
  private mode: 'forward' | 'cut' | 'blackhole' | 'deaf' = 'forward';
  /** What to do once a client sends bytes holding `marker`. */
  private trigger: { marker: string; then: () => void } | null = null;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(t: Test, target: { host: string; port: number }): Promise<TcpProxy> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => proxy.handle(client, target));
    t.teardown(() => proxy.close());
    return proxy;
  }

  private handle(client: Socket, target: { host: string; port: number }): void {
    if (this.mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = createConnection(target);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      if (this.mode === 'forward' || this.mode === 'deaf') upstream.write(chunk);
      const trigger = this.trigger;
      if (trigger !== null && this.mode === 'forward' && chunk.includes(trigger.marker)) {
        this.trigger = null;
        trigger.then();
      }
    });
    upstream.on('data', (chunk) => {
      if (this.mode === 'forward') client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  }

  /** Replaces host and port of `url` with this proxy's. */
  urlFor(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  /** `reset`: the client sees a TCP reset (ECONNRESET) rather than a close. */
  cut({ reset = false } = {}): void {
    this.mode = 'cut';
    for (const socket of this.sockets) {
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  }

  blackhole(): void {
    this.mode = 'blackhole';
  }

  loseAnswersAfter(marker: string): void {
    this.trigger = { marker, then: () => (this.mode = 'deaf') };
  }

  cutAfter(marker: string, options: { reset?: boolean } = {}): void {
    this.trigger = { marker, then: () => this.cut(options) };
  }

  restore(): void {
    this.mode = 'forward';
    this.trigger = null;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
