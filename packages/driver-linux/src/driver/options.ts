import type { DetachOptions, EndpointAttachment, EndpointOptions } from '@berth/runtime';

/**
 * What the driver needs from a network driver (CniNetworkManager fits): the endpoint part
 * of @berth/runtime's NetworkDriver, plus the Linux namespace the container joins.
 */
export interface ContainerNetworker {
  attach(
    containerId: string,
    options: EndpointOptions & {
      /** Called when the namespace exists, before the plugins run (the runtime may create the container meanwhile). */
      onNamespace?: (netnsPath: string) => void;
    },
  ): Promise<EndpointAttachment & { netnsPath?: string }>;
  detach(containerId: string, options?: DetachOptions): Promise<void>;
}

export interface LinuxDriverOptions {
  /** Bundles, runtime state, exit files and the per-container records live here. */
  stateDir: string;
  /** `crun` (default), `runc`, or a path to a runtime binary with their CLI. */
  runtime?: string;
  /** Default: `conmon` on PATH. */
  conmonPath?: string;
  /** Where container logs go when the spec has no logPath. Default `<stateDir>/containers/<id>/ctr.log`. */
  logDir?: string;
  /** Parent of every container's cgroup. Default `/berth`. */
  cgroupParent?: string;
  /** Bridge networking; without it only `none`, `host` and `container:<id>` work. */
  network?: ContainerNetworker;
}
