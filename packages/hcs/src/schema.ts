import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/**
 * Validation against hcs-schema2.json (generated from hcsshim's schema2 structs; strict:
 * every struct has additionalProperties:false, exact casing). Entry points are its
 * definitions: ComputeSystem (the root), ProcessParameters, ModifySettingRequest,
 * ProcessModifyRequest, PropertyQuery, HostedSystem, LayerData, ...
 */
export type HcsDefinition =
  | 'ComputeSystem'
  | 'ProcessParameters'
  | 'ModifySettingRequest'
  | 'ProcessModifyRequest'
  | 'PropertyQuery'
  | 'HostedSystem'
  | 'LayerData'
  | 'OsLayerOptions'
  | 'ExportLayerOptions'
  | 'Attachment'
  | 'VirtualSmbShare'
  | 'VirtualPMemDevice'
  | 'Plan9Share'
  | 'NetworkAdapter'
  | 'Properties'
  | 'ProcessStatus';

const SCHEMA_ID = 'urn:berth:windows:hcs-schema2';
let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

/** The schema file shipped with the package (src/ and dist/ are both one level down). */
export const HCS_SCHEMA_PATH = new URL('../schema/hcs-schema2.json', import.meta.url);

function validator(def: HcsDefinition): ValidateFunction {
  let v = compiled.get(def);
  if (v) return v;
  if (!ajv) {
    ajv = new Ajv({ allErrors: true });
    const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;
    (addFormats as unknown as (a: Ajv) => void)(ajv);
    ajv.addSchema(JSON.parse(readFileSync(HCS_SCHEMA_PATH, 'utf8')) as object);
  }
  v = ajv.getSchema(`${SCHEMA_ID}#/definitions/${def}`);
  if (!v) throw new Error(`hcs-schema2.json has no definition ${def}`);
  compiled.set(def, v);
  return v;
}

/** The schema's complaints about `doc` as `def` (empty when valid). */
export function hcsSchemaErrors(def: HcsDefinition, doc: unknown): string[] {
  const v = validator(def);
  if (v(doc)) return [];
  return (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
}

/** The payload definition a ModifySettingRequest's ResourcePath implies, if Berth knows it. */
export function settingsDefinition(resourcePath: string | undefined): HcsDefinition | undefined {
  if (!resourcePath) return undefined;
  if (/^VirtualMachine\/Devices\/Scsi\/[^/]+\/Attachments\/\d+$/.test(resourcePath)) return 'Attachment';
  if (resourcePath === 'VirtualMachine/Devices/VirtualSmb/Shares') return 'VirtualSmbShare';
  if (/^VirtualMachine\/Devices\/VirtualPMem\/Devices\/\d+$/.test(resourcePath)) return 'VirtualPMemDevice';
  if (resourcePath === 'VirtualMachine/Devices/Plan9/Shares') return 'Plan9Share';
  if (/^VirtualMachine\/Devices\/NetworkAdapters\/[^/]+$/.test(resourcePath)) return 'NetworkAdapter';
  return undefined;
}
