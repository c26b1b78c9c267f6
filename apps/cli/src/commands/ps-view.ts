// `berth ps` without its transport: the request its flags make and the text its answer
// prints. commands/containers.ts (through EngineClient) and fast/ps.ts (the launcher's
// short path) both use it, so the two print the same bytes.
import type { ContainerListOptions, ContainerSummary } from '@berth/engine-api';
import { CONTAINER_DEFAULT, CONTAINER_HEADERS, containerFields } from '../format/contexts.js';
import { renderRows } from '../format/render.js';
import { parseFilters } from './filters.js';

export interface PsFlags {
  all?: boolean;
  quiet?: boolean;
  filter: string[];
  format?: string;
  trunc?: boolean;
  size?: boolean;
  last?: string;
  latest?: boolean;
}

/** The list request: docker's, which asks for sizes when the template shows them. */
export function psListOptions(flags: PsFlags): ContainerListOptions & { filters: Record<string, string[]> } {
  const wantsSize = Boolean(flags.size) || (flags.format !== undefined && (/\.Size\b/.test(flags.format) || /json \.\s*\}\}/.test(flags.format)));
  const limit = flags.latest ? 1 : flags.last !== undefined ? Number(flags.last) : undefined;
  return {
    all: Boolean(flags.all) || (limit !== undefined && limit > 0),
    ...(limit !== undefined && limit > 0 ? { limit } : {}),
    size: wantsSize,
    filters: parseFilters(flags.filter),
  };
}

/** What `ps` prints for the daemon's list. */
export function psOutput(list: ContainerSummary[], flags: PsFlags): string {
  const trunc = flags.trunc !== false;
  let format = flags.format;
  if (flags.quiet && (format === undefined || format === '')) format = '{{.ID}}';
  let def = CONTAINER_DEFAULT;
  if (flags.size) def += '\t{{.Size}}';
  return renderRows(list.map((c) => containerFields(c, { trunc })), { format, defaultFormat: def, headers: CONTAINER_HEADERS });
}
