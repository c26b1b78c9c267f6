/**
 * Stands in for `undici` in the berthd bundle (tsup.config.ts aliases it): undici costs
 * ~8 MB of heap and 90 ms when loaded, and berthd needs it only once it talks to a
 * registry (pull, push, login). registry-client builds its agents lazily, so loading the
 * real module on the first construction or request keeps it out of an idle daemon.
 * Only what registry-client uses is forwarded; a new import fails the bundle build.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

let real: typeof Undici | undefined;
const load = (): typeof Undici => (real ??= createRequire(import.meta.url)('undici') as typeof Undici);

// A constructor returning an object makes `new Agent(...)` yield the real undici instance.
export const Agent = function Agent(...args: ConstructorParameters<typeof Undici.Agent>) {
  return new (load().Agent)(...args);
} as unknown as typeof Undici.Agent;

export const EnvHttpProxyAgent = function EnvHttpProxyAgent(...args: ConstructorParameters<typeof Undici.EnvHttpProxyAgent>) {
  return new (load().EnvHttpProxyAgent)(...args);
} as unknown as typeof Undici.EnvHttpProxyAgent;

export const request = ((...args: Parameters<typeof Undici.request>) => load().request(...args)) as typeof Undici.request;
