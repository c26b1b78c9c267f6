/**
 * @berth/cri — the Kubernetes Container Runtime Interface (CRI v1) over Berth's engine:
 * runtime.v1.RuntimeService and ImageService on a unix socket, and the streaming server
 * behind Exec, Attach and PortForward. berthd (the composition root) starts it with the
 * engine's services and its runtime driver.
 */
export { CriServer, type CriServerOptions } from './server.js';
export type { CriDeps } from './deps.js';
export { criServices, PROTO_PATH, LOADER_OPTIONS } from './grpc.js';
export { CRI_NAMESPACE } from './meta.js';
export { dialSpdy, dialWebSocket } from './streaming/client.js';
export { WsChannelConnection } from './streaming/websocket-channels.js';
export { WEBSOCKET_PROTOCOLS } from './streaming/websocket-session.js';
export { SpdyConnection, SpdyStream } from './streaming/spdy-connection.js';
export { REMOTE_COMMAND_PROTOCOLS } from './streaming/remote-command.js';
export { PORT_FORWARD_PROTOCOLS } from './streaming/port-forward.js';
