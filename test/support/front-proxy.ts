import net from 'node:net';

/**
 * A TCP proxy in front of the router. With `rate`, client → router bytes pass at that many bytes
 * per second (responses at full speed), so an upload is still streaming when a server is killed.
 * A TLS ClientHello is answered with a plain-HTTP 400 and closed, as the Node, Bun and Deno
 * listeners do: skopeo with `--tls-verify=false` tries HTTPS first, and local workerd (miniflare on
 * a plain port) neither answers nor closes a ClientHello, so every skopeo call would wait for Go's
 * 10 s TLS handshake timeout before falling back to HTTP. The Host header (and so every upload
 * Location) names the proxy: skopeo stays on it for the whole push.
 */
export async function frontProxy(port: number, { rate }: { rate?: number } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const reset = (socket: net.Socket) => {
    if (!socket.destroyed) socket.resetAndDestroy();
  };
  const server = net.createServer((client) => {
    track(client);
    client.on('error', () => client.destroy());
    client.once('data', (first: Buffer) => {
      if (first[0] === 0x16) {
        client.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const upstream = net.connect(port, '127.0.0.1');
      track(upstream);
      // Each side's end is passed on as it came: a reset as a reset, a close after the bytes before it.
      client.removeAllListeners('error').on('error', () => reset(upstream));
      upstream.on('error', () => reset(client));
      client.on('end', () => upstream.end());
      let open = true;
      upstream.on('end', () => {
        // Keep reading what the client still sends (an upload body), so that closing does not turn
        // into a reset that makes the client lose the answer before it.
        open = false;
        client.end();
        client.resume();
        setTimeout(() => client.destroy(), 2000).unref();
      });
      upstream.on('data', (chunk: Buffer) => {
        if (!client.write(chunk)) {
          upstream.pause();
          client.once('drain', () => upstream.resume());
        }
      });
      const forward = (chunk: Buffer) => {
        if (!open) return;
        const flushed = upstream.write(chunk);
        if (rate === undefined && flushed) return;
        client.pause();
        const drained = flushed ? Promise.resolve() : new Promise((r) => upstream.once('drain', r));
        const paced = new Promise((r) => setTimeout(r, rate === undefined ? 0 : (chunk.length / rate) * 1000));
        void Promise.all([drained, paced]).then(() => open && client.resume());
      };
      forward(first);
      client.on('data', forward);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${own}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
