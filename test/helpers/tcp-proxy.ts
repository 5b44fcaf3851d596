import net from 'node:net';

export type ProxyMode = 'pass' | 'blackhole';

/**
 * A TCP forwarder in front of PostgreSQL that a test can turn into a black hole: connections stay
 * open and new ones are accepted, but no byte goes through in either direction (a network
 * partition, a dropped route), until it is set back to `pass` and the held bytes flow again.
 */
export class TcpProxy {
  private mode: ProxyMode = 'pass';
  private readonly pairs = new Set<{ a: net.Socket; b: net.Socket }>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const ref: { self?: TcpProxy } = {};
    const server = net.createServer((a) => {
      const self = ref.self!;
      const b = net.connect(target.port, target.host);
      const pair = { a, b };
      self.pairs.add(pair);
      const end = () => {
        a.destroy();
        b.destroy();
        self.pairs.delete(pair);
      };
      a.on('error', end).on('close', end);
      b.on('error', end).on('close', end);
      a.pipe(b);
      b.pipe(a);
      if (self.mode === 'blackhole') {
        a.pause();
        b.pause();
        a.unpipe(b);
        b.unpipe(a);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address() as net.AddressInfo;
    ref.self = new TcpProxy(server, addr.port);
    return ref.self;
  }

  setMode(mode: ProxyMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    for (const { a, b } of this.pairs) {
      if (mode === 'blackhole') {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      } else {
        a.pipe(b);
        b.pipe(a);
      }
    }
  }

  /** Rewrites a PostgreSQL URL to go through this proxy. */
  urlFor(pgUrl: string): string {
    const u = new URL(pgUrl);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    // An embedded cluster's URL names its Unix socket too (?host=dir): through the proxy, TCP only.
    u.searchParams.delete('host');
    return u.toString();
  }

  async close(): Promise<void> {
    for (const { a, b } of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
