import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { BerthError } from '@berth/image-format';

/** Berth's copy of the CRI v1 definitions (one level up from both src/ and dist/). */
export const PROTO_PATH = fileURLToPath(new URL('../proto/runtime-v1.proto', import.meta.url));

/**
 * Snake-case field names as the spec spells them; int64 as decimal strings (nanosecond
 * times pass 2^53); enums as numbers; unset fields as their defaults, as Go's client sees them.
 */
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true };

export interface CriServices {
  RuntimeService: grpc.ServiceClientConstructor;
  ImageService: grpc.ServiceClientConstructor;
}

let loaded: CriServices | undefined;

export function criServices(): CriServices {
  if (!loaded) {
    const def = protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: CriServices } };
    loaded = pkg.runtime.v1;
  }
  return loaded;
}

/** A gRPC error with a status code (what a handler throws to choose the code). */
export class GrpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A Berth error's code (`NotFound`...), read from the object rather than by `instanceof`:
 * berthd bundles the engine with its own copy of @berth/image-format while this package
 * (loaded on demand) imports another, so the engine's errors are not instances of ours.
 */
export function berthCode(err: unknown): BerthError['code'] | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && err.name === `${code}Error` ? (code as BerthError['code']) : undefined;
}

export const isNotFound = (err: unknown): boolean => berthCode(err) === 'NotFound';

export function toServiceError(err: unknown): grpc.ServiceError {
  const e = err as Error;
  let code = grpc.status.UNKNOWN;
  if (err instanceof GrpcError) code = err.code;
  else {
    code =
      {
        NotFound: grpc.status.NOT_FOUND,
        Conflict: grpc.status.ALREADY_EXISTS,
        InvalidArgument: grpc.status.INVALID_ARGUMENT,
        Unauthorized: grpc.status.UNAUTHENTICATED,
        Unsupported: grpc.status.UNIMPLEMENTED,
      }[berthCode(err) as string] ?? grpc.status.UNKNOWN;
  }
  return Object.assign(new Error(e?.message ?? String(err)), { code, details: e?.message ?? String(err), metadata: new grpc.Metadata() });
}

type Handler = (request: any) => Promise<unknown>;

/** gRPC unary handlers from async functions; a thrown error becomes its status. */
export function unaryHandlers(fns: Record<string, Handler>, onError?: (method: string, err: unknown) => void): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(fns)) {
    out[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      fn(call.request).then(
        (res) => callback(null, res),
        (err: unknown) => {
          onError?.(name, err);
          callback(toServiceError(err));
        },
      );
    };
  }
  return out;
}
