import type { Duplex } from 'node:stream';

// Requests Node's HTTP parser refuses before any handler sees them (a URL or headers above its
// 16 KiB limit, a malformed request line) still get an error in the server's own form: a JSON
// `{message}` with a 4xx status, instead of Node's bare status line.

const REASONS: Record<number, [string, string]> = {
  431: ['Request Header Fields Too Large', 'Request URL or headers too long'],
  400: ['Bad Request', 'Malformed HTTP request']
};

export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (
    !socket.writable ||
    (err.code !== 'HPE_HEADER_OVERFLOW' && err.code?.startsWith('HPE_') !== true)
  ) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const [phrase, message] = REASONS[status];
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${phrase}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
