import { anyObject, bool, nullable, str, strMap, type JsonSchema } from './json-schema.js';
import { containerConfigSchema, endpointSettingsSchema } from './container.js';

/** POST /volumes/create */
export const volumeCreateBodySchema: JsonSchema = {
  type: ['object', 'null'],
  properties: { Name: str, Driver: str, DriverOpts: strMap, Labels: strMap },
};

const ipamSchema: JsonSchema = {
  type: ['object', 'null'],
  properties: {
    Driver: str,
    Config: {
      type: ['array', 'null'],
      // docker-py sends null for the fields a pool leaves unset; dockerd takes them as empty
      items: { type: ['object', 'null'], properties: { Subnet: nullable('string'), IPRange: nullable('string'), Gateway: nullable('string'), AuxiliaryAddresses: strMap } },
    },
    Options: strMap,
  },
};

/** POST /networks/create */
export const networkCreateBodySchema: JsonSchema = {
  type: 'object',
  required: ['Name'],
  properties: {
    Name: str,
    CheckDuplicate: bool,
    Driver: str,
    Scope: str,
    Internal: bool,
    Attachable: bool,
    Ingress: bool,
    ConfigOnly: bool,
    ConfigFrom: anyObject,
    IPAM: ipamSchema,
    EnableIPv4: bool,
    EnableIPv6: bool,
    Options: strMap,
    Labels: strMap,
  },
};

/** POST /networks/{id}/connect */
export const networkConnectBodySchema: JsonSchema = {
  type: 'object',
  required: ['Container'],
  properties: { Container: str, EndpointConfig: endpointSettingsSchema },
};

/** POST /networks/{id}/disconnect */
export const networkDisconnectBodySchema: JsonSchema = {
  type: 'object',
  required: ['Container'],
  properties: { Container: str, Force: bool },
};

/** POST /auth */
export const authConfigSchema: JsonSchema = {
  type: 'object',
  properties: { username: str, password: str, auth: str, email: str, serveraddress: str, identitytoken: str, registrytoken: str },
};

/** POST /commit (a container config; may be empty) */
export const commitBodySchema: JsonSchema = containerConfigSchema;

/** `{"message": "..."}` */
export const errorResponseSchema: JsonSchema = {
  type: 'object',
  required: ['message'],
  properties: { message: str },
};
