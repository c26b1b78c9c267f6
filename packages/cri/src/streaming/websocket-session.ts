import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { refuseUpgrade } from './handshake.js';
import { runSession, type RemoteCommandOptions, type RunOutcome, type SessionStreams } from './remote-command.js';
import { WsChannelConnection } from './websocket-channels.js';
import { acceptKey } from './websocket-frames.js';

/** The subprotocols kubelet's exec/attach WebSocket accepts ('' when the client names none: binary channels). */
export const WEBSOCKET_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

/** As apiserver's wsstream: `Upgrade: websocket` and a Connection header that includes upgrade. */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket' && /(^|,)\s*upgrade\s*($|,)/.test((req.headers.connection ?? '').toLowerCase());
}

/**
 * Exec or attach over a WebSocket, as kubelet serves it: the RFC 6455 handshake with the first
 * subprotocol the client offers that is supported (403 otherwise), an empty message on the
 * lowest channel it writes (stdout, else stderr, else error) to say the session is open, then the
 * session; v4 protocols get the JSON status on the error channel.
 */
export function serveWebSocketRemoteCommand(req: IncomingMessage, socket: Socket, head: Buffer, opts: RemoteCommandOptions, run: (s: SessionStreams) => Promise<RunOutcome>): Promise<void> | undefined {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || req.headers['sec-websocket-version'] !== '13') {
    refuseUpgrade(socket, 400, 'Bad Request', 'unable to upgrade: a WebSocket version 13 handshake is required', { 'Sec-WebSocket-Version': '13' });
    return undefined;
  }
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const protocol = offered.length === 0 ? '' : offered.find((p) => WEBSOCKET_PROTOCOLS.includes(p));
  if (protocol === undefined) {
    refuseUpgrade(socket, 403, 'Forbidden', `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${WEBSOCKET_PROTOCOLS.join(' ')}]`);
    return undefined;
  }
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n${protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : ''}\r\n`,
  );
  const conn = new WsChannelConnection(socket, { base64: protocol.includes('base64'), readChannels: [STDIN, RESIZE] }, head);
  conn.send(opts.stdout ? STDOUT : opts.stderr ? STDERR : ERROR, Buffer.alloc(0));
  const gone = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  const stdin = conn.readable(STDIN)!;
  const resize = conn.readable(RESIZE)!;
  if (!opts.stdin) stdin.resume();
  if (!opts.tty) resize.resume();
  return runSession(
    {
      error: conn.writable(ERROR),
      ...(opts.stdin ? { stdin } : {}),
      ...(opts.stdout ? { stdout: conn.writable(STDOUT) } : {}),
      ...(opts.stderr ? { stderr: conn.writable(STDERR) } : {}),
      ...(opts.tty ? { resize } : {}),
      v4: protocol.startsWith('v4.'),
      gone,
      isClosed: () => conn.closed,
      close: () => conn.close(),
    },
    run,
  );
}
