export {
  containerCreateBodySchema,
  containerUpdateBodySchema,
  containerConfigSchema,
  hostConfigSchema,
  networkingConfigSchema,
  execCreateBodySchema,
  execStartBodySchema,
} from './container.js';
export {
  volumeCreateBodySchema,
  networkCreateBodySchema,
  networkConnectBodySchema,
  networkDisconnectBodySchema,
  authConfigSchema,
  commitBodySchema,
  errorResponseSchema,
} from './other.js';
