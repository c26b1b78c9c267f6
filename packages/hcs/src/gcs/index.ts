export * from './protocol.js';
export { GcsBridge, UVM_CONTAINER_ID, type ResponseBase, type ContainerNotification } from './bridge.js';
