import type { ServerResponse } from 'node:http';
import { API_VERSION } from '@berth/engine-api';
import { SERVER_HEADER } from '../version.js';

/** Headers Docker puts on every response; set on the raw response so hijacked replies carry them too. */
export function setCommonHeaders(res: ServerResponse): void {
  res.setHeader('Api-Version', API_VERSION);
  res.setHeader('Ostype', 'linux');
  res.setHeader('Server', SERVER_HEADER);
  res.setHeader('Docker-Experimental', 'false');
}

/** The same headers as raw lines, for a response written straight to a hijacked socket. */
export function commonHeaderLines(): string {
  return `Api-Version: ${API_VERSION}\r\nOstype: linux\r\nServer: ${SERVER_HEADER}\r\nDocker-Experimental: false\r\n`;
}
