// docker's formatter.Context: a --format of `table ...`, `json`, or a plain template,
// applied to each row; tables get a header row and go through the tabwriter.
import { Template, toJson, type Fields } from './template.js';
import { tabwrite } from './tabwriter.js';

interface RenderOptions {
  /** What the user passed to --format (undefined or '' for the default table). */
  format: string | undefined;
  /** The command's default, e.g. `table {{.ID}}\t{{.Image}}`. */
  defaultFormat: string;
  /** Column titles by field name (`ID` -> `CONTAINER ID`). */
  headers: Record<string, string>;
}

/** Docker's pre-processing: `table ` stripped, spaces trimmed, `\t` and `\n` escapes expanded. */
export function prepareFormat(format: string): { table: boolean; source: string } {
  let table = false;
  let f = format;
  if (f === 'table' || f.startsWith('table ')) {
    table = true;
    f = f.slice('table'.length);
  }
  f = f.replace(/^ +| +$/g, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return { table, source: f };
}

/** Renders rows as docker would print them (every row ends with a newline). */
export function renderRows(rows: Fields[], options: RenderOptions): string {
  let format = options.format ?? '';
  if (format === '') format = options.defaultFormat;
  if (format === 'json') format = '{{json .}}';
  if (format === 'table') format = options.defaultFormat;
  const { table, source } = prepareFormat(format);
  const tmpl = Template.parse(source);
  let body = '';
  for (const row of rows) body += `${tmpl.execute(row)}\n`;
  if (!table) return body;
  const header = tmpl.executeHeader(options.headers);
  return tabwrite(`${header}\n${body}`);
}

/** `docker inspect -f`: one rendering per object; `json` alone is the whole object. */
export function renderEach(objects: unknown[], format: string): string {
  const f = format === 'json' ? '{{json .}}' : prepareFormat(format).source;
  const tmpl = Template.parse(f);
  return objects.map((o) => `${tmpl.execute(o)}\n`).join('');
}

/** docker inspect's default: the daemon's JSON, indented by four spaces, in an array. */
export function indentJson(objects: unknown[]): string {
  if (objects.length === 0) return '[]\n';
  return `${JSON.stringify(objects, null, 4)}\n`;
}

export { toJson };
