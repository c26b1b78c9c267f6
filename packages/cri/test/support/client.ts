import * as grpc from '@grpc/grpc-js';
import { criServices } from '../../src/grpc.js';

export type Call = (method: string, request?: object) => Promise<any>;

/** A CRI client (both services) on a unix socket: `rt('Version')`, `img('ListImages', {})`. */
export function criClient(socketPath: string): { rt: Call; img: Call; close(): void } {
  const { RuntimeService, ImageService } = criServices();
  const creds = grpc.credentials.createInsecure();
  const runtime = new RuntimeService(`unix://${socketPath}`, creds) as unknown as grpc.Client & Record<string, Function>;
  const image = new ImageService(`unix://${socketPath}`, creds) as unknown as grpc.Client & Record<string, Function>;
  const caller = (client: Record<string, Function>): Call => (method, request = {}) =>
    new Promise((resolve, reject) => {
      client[method]!.call(client, request, { deadline: Date.now() + 120_000 }, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res)));
    });
  return {
    rt: caller(runtime),
    img: caller(image),
    close() {
      runtime.close();
      image.close();
    },
  };
}
