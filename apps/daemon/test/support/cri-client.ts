import * as grpc from '@grpc/grpc-js';
import { criServices } from '@berth/cri';

export type CriCall = (method: string, request?: object) => Promise<any>;

export interface CriClient {
  /** runtime.v1.RuntimeService: `rt('Version')`. */
  rt: CriCall;
  /** runtime.v1.ImageService: `img('ListImages', {})`. */
  img: CriCall;
  close(): void;
}

/**
 * A CRI client (both services) on a unix socket. `authority`: the `:authority` it sends
 * (Go's gRPC in kubelet/crictl 1.26 sends the socket's path; grpc-js sends `localhost`).
 */
export function criClient(socketPath: string, authority?: string): CriClient {
  const { RuntimeService, ImageService } = criServices();
  const creds = grpc.credentials.createInsecure();
  const options = authority ? { 'grpc.default_authority': authority } : {};
  const runtime = new RuntimeService(`unix://${socketPath}`, creds, options) as unknown as grpc.Client & Record<string, Function>;
  const image = new ImageService(`unix://${socketPath}`, creds, options) as unknown as grpc.Client & Record<string, Function>;
  const caller =
    (client: Record<string, Function>): CriCall =>
    (method, request = {}) =>
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
