/**
 * @berth/hcs/simulator — an in-memory HCS/HCN/computestorage for Linux: HCS's state
 * machine and HRESULTs, every document validated against hcs-schema2.json, processes run
 * as simulated programs. It proves the drivers' document flow and state handling, not Windows.
 */
export { HcsSimulator, type HcsSimulatorOptions } from './simulator.js';
export { hcsAcceptsImage } from './compat.js';
export { nameToGuid } from './storage.js';
// validation against hcs-schema2.json (ajv) lives here, not in the main entry a Windows berthd loads
export { hcsSchemaErrors, settingsDefinition, HCS_SCHEMA_PATH, type HcsDefinition } from '../schema.js';
export { DEFAULT_GUEST_USERS, type GuestUser, type GuestOptions, type GuestFiles, type GuestProcessApi } from './guest.js';
export { SimHvsock, duplexPair } from './hvsock.js';
export { SimGcs } from './gcs.js';
export { Ext4Image, readFromLayers } from './ext4-reader.js';
