/**
 * Plain JSON Schema (draft-07) objects for the request bodies berthd validates.
 * They are permissive where Docker is: unknown fields are allowed, and every
 * field Go encodes from a nil slice or map may be null.
 */
export type JsonSchema = Record<string, unknown>;

export const nullable = (type: string | string[]): JsonSchema => ({
  type: [...(Array.isArray(type) ? type : [type]), 'null'],
});
export const str: JsonSchema = { type: 'string' };
export const bool: JsonSchema = nullable('boolean');
export const int: JsonSchema = nullable('integer');
export const strList: JsonSchema = { type: ['array', 'null'], items: { type: 'string' } };
/** Docker's StrSlice: a string or a list of strings. */
export const strSlice: JsonSchema = { type: ['array', 'string', 'null'], items: { type: 'string' } };
export const strMap: JsonSchema = { type: ['object', 'null'], additionalProperties: { type: 'string' } };
export const anyObject: JsonSchema = { type: ['object', 'null'] };
