/**
 * Container start benchmark: create+start+wait of /bin/true through LinuxDriver vs
 * raw `<runtime> run` of the same bundle (the floor) vs `podman run --rm` (when podman
 * has a busybox-like image). Prints medians; run with `tsx bench/start.ts [N]`.
 * Env: BERTH_BENCH_RUNTIME=crun|runc (default crun); BERTH_BENCH_PODMAN_IMPORT=1 copies
 * the fixtures' busybox image into podman's storage (skopeo) for the run and removes it.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBusyboxLayout, buildBusyboxRootfs } from '@berth/fixtures';
import { LinuxDriver } from '../src/index.js';

const execFileAsync = promisify(execFile);
const N = Number(process.argv[2] ?? process.env.BERTH_BENCH_N ?? 20);
const runtime = process.env.BERTH_BENCH_RUNTIME ?? 'crun';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function ms(ns: bigint): number {
  return Number(ns) / 1e6;
}

async function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) => resolve(code ?? -1));
  });
}

const base = await mkdtemp(join(tmpdir(), 'berth-bench-start-'));
try {
  const rootfs = join(base, 'rootfs');
  await buildBusyboxRootfs(rootfs);
  const driver = new LinuxDriver({ stateDir: join(base, 'state'), runtime });

  // warm-up, and a bundle to copy for the raw runtime
  const warm = `bench-warm-${randomBytes(3).toString('hex')}`;
  await driver.create({ id: warm, rootfs: { path: rootfs }, process: { args: ['/bin/true'] }, network: { mode: 'none' } });
  const rawBundle = join(base, 'raw-bundle');
  await cp(join(base, 'state', 'containers', warm), rawBundle, {
    recursive: true,
    filter: (src) => !/(attach|ctl|winsz|ctr\.log|persist)$/.test(src),
  });
  await driver.start(warm);
  await driver.wait(warm);
  await driver.delete(warm);
  // the raw run uses the same config.json but no cgroup clash with berth's
  const warmBundle = join(base, 'state', 'containers', warm);
  const cfgText = (await readFile(join(rawBundle, 'config.json'), 'utf8')).split(warmBundle).join(rawBundle);
  const cfg = JSON.parse(cfgText) as { linux: { cgroupsPath: string } };
  cfg.linux.cgroupsPath = `/berth-bench-raw/${randomBytes(3).toString('hex')}`;
  await writeFile(join(rawBundle, 'config.json'), JSON.stringify(cfg));
  // the floor runs through the same host adaptation as berth (the wrapper: none, or a
  // private mount namespace for crun on a hybrid cgroup host); on such a host the shell
  // way from MACHINE-NOTES (unshare + sh + umount) is timed as well
  const wrapper = join(base, 'state', `${runtime}-wrapper`);
  const hybridCrun = runtime === 'crun' && (await readFile('/proc/self/mountinfo', 'utf8')).includes(' /sys/fs/cgroup/unified ');
  const rtRoot = join(base, 'state', 'runtime');
  const shellFloor = (rid: string): [string, string[]] => [
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"', 'crun', '--root', rtRoot, 'run', '--bundle', rawBundle, rid],
  ];

  const berth: number[] = [];
  const phases = { create: [] as number[], start: [] as number[], wait: [] as number[] };
  const berthDelete: number[] = [];
  const raw: number[] = [];
  const rawShell: number[] = [];
  for (let i = 0; i < N; i++) {
    const id = `bench-${i}-${randomBytes(3).toString('hex')}`;
    const t0 = process.hrtime.bigint();
    await driver.create({ id, rootfs: { path: rootfs }, process: { args: ['/bin/true'] }, network: { mode: 'none' } });
    const tc = process.hrtime.bigint();
    await driver.start(id);
    const ts = process.hrtime.bigint();
    const st = await driver.wait(id);
    const t1 = process.hrtime.bigint();
    phases.create.push(ms(tc - t0));
    phases.start.push(ms(ts - tc));
    phases.wait.push(ms(t1 - ts));
    if (st.exitCode !== 0) throw new Error(`exit ${st.exitCode}`);
    await driver.delete(id);
    berthDelete.push(ms(process.hrtime.bigint() - t1));
    berth.push(ms(t1 - t0));

    // the two floors alternate which runs first after berth's delete (that slot is slower)
    const rawFloor = async () => {
      const rid = `raw-${i}-${randomBytes(3).toString('hex')}`;
      const r0 = process.hrtime.bigint();
      const code = await run(wrapper, ['run', '--bundle', rawBundle, rid]);
      raw.push(ms(process.hrtime.bigint() - r0));
      if (code !== 0) throw new Error(`raw ${runtime} run exited ${code}`);
    };
    if (!hybridCrun || i % 2 === 0) await rawFloor();
    if (hybridCrun) {
      const sid = `raws-${i}-${randomBytes(3).toString('hex')}`;
      const s0 = process.hrtime.bigint();
      const scode = await run(...shellFloor(sid));
      rawShell.push(ms(process.hrtime.bigint() - s0));
      if (scode !== 0) throw new Error(`raw ${runtime} run (shell) exited ${scode}`);
      if (i % 2 === 1) await rawFloor();
    }
  }

  // Root here may lack CAP_SYS_RESOURCE: podman's default rlimits fail, so ask for the
  // host's own; podman's crun refuses a hybrid cgroup host, so use runc there.
  const limits = await readFile('/proc/self/limits', 'utf8');
  const hostNofile = /^Max open files\s+\d+\s+(\d+)/m.exec(limits)?.[1] ?? '1024';
  const hostNproc = Math.min(32768, Number(/^Max processes\s+\d+\s+(\d+)/m.exec(limits)?.[1] ?? '4096'));
  const hybrid = (await readFile('/proc/self/mountinfo', 'utf8')).includes(' /sys/fs/cgroup/unified ');
  const podmanRuntime = hybrid ? 'runc' : runtime;
  const podmanArgs = (img: string) => [
    '--runtime', podmanRuntime, 'run', '--rm', '--network', 'none',
    '--ulimit', `nofile=${hostNofile}:${hostNofile}`, '--ulimit', `nproc=${hostNproc}:${hostNproc}`, img, 'true',
  ];
  let podman: number[] | undefined;
  let podmanNote = '';
  const images = await execFileAsync('podman', ['images', '--format', '{{.Repository}}:{{.Tag}}']).then((r) => r.stdout.split('\n').filter(Boolean)).catch(() => [] as string[]);
  let image = images.find((x) => /busybox|alpine/.test(x));
  let imported: string | undefined;
  if (!image && process.env.BERTH_BENCH_PODMAN_IMPORT === '1') {
    const layout = await buildBusyboxLayout();
    imported = `localhost/berth-bench-busybox-${randomBytes(3).toString('hex')}:latest`;
    await execFileAsync('skopeo', ['copy', `oci:${layout.layoutDir}:latest`, `containers-storage:${imported}`]);
    image = imported;
  }
  if (image) {
    podman = [];
    for (let i = 0; i < Math.min(N, 10); i++) {
      const p0 = process.hrtime.bigint();
      const code = await run('podman', podmanArgs(image));
      podman.push(ms(process.hrtime.bigint() - p0));
      if (code !== 0) {
        podmanNote = `podman run exited ${code}`;
        podman = undefined;
        break;
      }
    }
    if (imported) await execFileAsync('podman', ['rmi', imported]).catch(() => undefined);
    if (!podman) podman = undefined;
  } else {
    podmanNote = 'skipped: podman has no busybox/alpine image (set BERTH_BENCH_PODMAN_IMPORT=1 to import the fixture)';
  }

  // idle monitor memory
  const idle = `bench-idle-${randomBytes(3).toString('hex')}`;
  await driver.create({ id: idle, rootfs: { path: rootfs }, process: { args: ['sleep', '60'] }, network: { mode: 'none' } });
  await driver.start(idle);
  await new Promise((r) => setTimeout(r, 300));
  const conmonPid = Number((await readFile(join(base, 'state', 'containers', idle, 'conmon.pid'), 'utf8')).trim());
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${conmonPid}/status`, 'utf8'))?.[1]);
  await driver.delete(idle, { force: true });
  await driver.close();

  const b = median(berth);
  const r = median(raw);
  console.log(`container start (${runtime}, /bin/true, N=${N}, medians)`);
  console.log(`  berth create+start+wait     ${b.toFixed(1)} ms   (delete ${median(berthDelete).toFixed(1)} ms, not counted)`);
  console.log(`    (create ${median(phases.create).toFixed(1)} ms, start ${median(phases.start).toFixed(1)} ms, wait ${median(phases.wait).toFixed(1)} ms)`);
  console.log(`  raw ${runtime} run (floor)      ${r.toFixed(1)} ms`);
  console.log(`  overhead over the floor     ${(b - r).toFixed(1)} ms   (target < 30 ms)   ratio ${(b / r).toFixed(2)}x`);
  if (rawShell.length > 0) {
    const rs = median(rawShell);
    console.log(`  raw crun run via unshare+sh+umount (MACHINE-NOTES) ${rs.toFixed(1)} ms; overhead over it ${(b - rs).toFixed(1)} ms`);
  }
  const withDelete = median(berth.map((x, i) => x + (berthDelete[i] as number)));
  console.log(`  berth incl. delete (like --rm) ${withDelete.toFixed(1)} ms`);
  if (podman && podman.length > 0) console.log(`  podman run --rm (${podmanRuntime})     ${median(podman).toFixed(1)} ms   ratio berth(incl. delete)/podman ${(withDelete / median(podman)).toFixed(2)}x`);
  else console.log(`  podman run --rm             ${podmanNote}`);
  console.log(`  conmon RSS, one idle container: ${(rssKb / 1024).toFixed(1)} MiB`);
} finally {
  await rm(base, { recursive: true, force: true });
  await rm('/sys/fs/cgroup/pids/berth-bench-raw', { recursive: true }).catch(() => undefined);
}
