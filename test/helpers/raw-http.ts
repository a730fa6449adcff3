import net from 'node:net';

/**
 * Sends raw bytes to the server at `url` and resolves with everything it answered (as latin1 text) once it closed
 * the connection, or after `waitMs`: for requests an HTTP client would not send, or would fix on its way.
 */
export function raw(url: string, bytes: string | Buffer, waitMs = 3000): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('data', (c) => (answer += c.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.on('error', reject);
    socket.write(bytes);
  });
}
