export * from './protocol.js';
export * from './messages.js';
export { GcsBridge, UVM_CONTAINER_ID } from './bridge.js';
export { GuestConnection, type GuestProcessHandle, type GuestConnectionOptions } from './guest-connection.js';
