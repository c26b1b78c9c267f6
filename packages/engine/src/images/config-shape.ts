import type { ContainerConfig } from '../docker-types.js';

/**
 * A container config as Docker's daemon serialises its Go struct: every field that has no
 * `omitempty` is present (zero value when unset), in the struct's order. Image inspect
 * shows `Config` and `ContainerConfig` this way, and commit stores them so.
 */
export function dockerConfigShape(c: ContainerConfig | null | undefined): ContainerConfig {
  const v = c ?? {};
  const list = (x: string[] | string | null | undefined): string[] | null => (x === undefined || x === null ? null : typeof x === 'string' ? [x] : x);
  return {
    Hostname: v.Hostname ?? '',
    Domainname: v.Domainname ?? '',
    User: v.User ?? '',
    AttachStdin: v.AttachStdin ?? false,
    AttachStdout: v.AttachStdout ?? false,
    AttachStderr: v.AttachStderr ?? false,
    ...(v.ExposedPorts && Object.keys(v.ExposedPorts).length > 0 ? { ExposedPorts: v.ExposedPorts } : {}),
    Tty: v.Tty ?? false,
    OpenStdin: v.OpenStdin ?? false,
    StdinOnce: v.StdinOnce ?? false,
    Env: v.Env ?? null,
    Cmd: list(v.Cmd),
    ...(v.Healthcheck ? { Healthcheck: v.Healthcheck } : {}),
    ...(v.ArgsEscaped ? { ArgsEscaped: v.ArgsEscaped } : {}),
    Image: v.Image ?? '',
    Volumes: v.Volumes ?? null,
    WorkingDir: v.WorkingDir ?? '',
    Entrypoint: list(v.Entrypoint),
    ...(v.NetworkDisabled ? { NetworkDisabled: v.NetworkDisabled } : {}),
    ...(v.MacAddress ? { MacAddress: v.MacAddress } : {}),
    OnBuild: v.OnBuild ?? null,
    Labels: v.Labels ?? null,
    ...(v.StopSignal ? { StopSignal: v.StopSignal } : {}),
    ...(v.StopTimeout !== undefined && v.StopTimeout !== null ? { StopTimeout: v.StopTimeout } : {}),
    ...(v.Shell && v.Shell.length > 0 ? { Shell: v.Shell } : {}),
  };
}
