export * from './errors.js';
export * from './digest.js';
export type { Descriptor } from './descriptor.js';
export type { Platform } from './platform-types.js';
export * from './media-types.js';
