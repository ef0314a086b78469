import { createServer } from 'node:net';

/**
 * A TCP port free on the loopback interface right now (the OS picks it), for tests that start
 * servers of their own: Node-RED, mosquitto. Tests run in parallel on shared machines, so no
 * test uses a fixed port.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
