import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import {
  BerthError,
  InvalidArgumentError,
  NotFoundError,
  hostPlatform,
  normalizeReference,
  type ContainerConfig,
  type ImageConfig,
} from '@berth/image-format';
import type { ContainerService, ImageService } from '../services.js';
import type { ProgressMessage } from '../docker-types.js';
import type { LayerRecord } from '../images/table.js';
import { DockerfileParseError, parseDockerfile, type Instruction } from './dockerfile.js';
import { WordExpander, splitRawWords } from './words.js';
import { BuildCache, BuildImageStore } from './image-store.js';
import { LayeredFs, normalize } from './layered-fs.js';
import { dropIgnoredBuildFiles } from './context.js';
import { planCopy, hashPlan } from './copy-plan.js';
import { writeCopyLayer } from './layer-writer.js';
import { resolveOwner } from './owner.js';
import {
  DEFAULT_PATH,
  cloneConfig,
  commandArgv,
  envLookup,
  exposedPorts,
  healthcheck,
  keyValues,
  setEnv,
} from './config-steps.js';
import type { BuildOptions, BuildResult, BuildService } from './types.js';
import { runStepContainer, short } from './run-step.js';
import { buildCancelled } from './errors.js';
import { CacheSources } from './cache-from.js';
import { resolveBaseImage } from './base-image.js';
import type { CacheMounts } from './cache-mounts.js';
import { copyArgs } from './copy-step.js';
import { fetchAll } from './remote-source.js';
import { planRun, type RunEnv } from './run-instruction.js';
import { clampTimes, createdTime, sourceDateEpoch } from './reproducible.js';
import { neededStages, splitStages, stageDeps, targetStage, type StageDecl } from './stage-graph.js';
import { OrderedOutput, StageStopped, runStages } from './stage-runner.js';
import { platformArgs } from './platform-args.js';
import { StepImages } from './step-images.js';

export interface BuilderDeps {
  store: BuildImageStore;
  cache: BuildCache;
  images: ImageService;
  containers: ContainerService;
  /** `RUN --mount=type=cache` directories, kept between builds. */
  cacheMounts: CacheMounts;
  root: string;
  /** Extracts a (maybe gzip) tar into `dir`, refusing entries that escape it. */
  extract(tar: Readable, dir: string): Promise<void>;
  /** How long `ADD <url>` waits for an answer or the next bytes (default 30 s). */
  fetchTimeoutMs?: number;
}

/** Build args every Dockerfile may use without declaring them; never cached or recorded. */
const PROXY_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);

/** Where a running stage's messages go, its step count, whether `--no-cache-filter` names it. */
interface StageOutput {
  emit: (msg: ProgressMessage) => void;
  step: number;
  noCache: boolean;
}

/**
 * The running stage of whichever build the code runs for. One for the process: Node visits
 * every AsyncLocalStorage ever run for each promise made after (one per build: 1000 builds
 * made every promise of the daemon ~150x dearer).
 */
const STAGE_OUTPUT = new AsyncLocalStorage<StageOutput>();

/** The state of the stage being built. */
interface StageState {
  imageId: string;
  image: ImageConfig;
  config: ContainerConfig;
  /** ARGs declared in this stage, with their values. */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
}

export class Builder implements BuildService {
  constructor(private readonly d: BuilderDeps) {}

  async pruneCache(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    await this.d.cacheMounts.prune();
    return { CachesDeleted: this.d.cache.prune(), SpaceReclaimed: 0 };
  }

  async build(context: Readable, opts: BuildOptions = {}): Promise<BuildResult> {
    const tags = (opts.tags ?? []).map((t) => {
      const ref = normalizeReference(t);
      if (ref.digest) throw new InvalidArgumentError(`invalid reference format: ${t}`);
      return ref.familiar();
    });
    const dir = await mkdtemp(join(this.d.root, 'tmp-build-'));
    try {
      const ctx = join(dir, 'context');
      await this.d.extract(context, ctx);
      const tree = new LayeredFs([ctx]);
      const { text, name } = await this.readDockerfile(tree, opts.dockerfile);
      await dropIgnoredBuildFiles(tree, name);
      return await new BuildRun(this.d, opts, tree, dir).run(text, tags);
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async readDockerfile(ctx: LayeredFs, name: string | undefined): Promise<{ text: string; name: string }> {
    const candidates = name ? [name] : ['Dockerfile', 'dockerfile'];
    for (const c of candidates) {
      const e = await ctx.stat(c);
      if (e?.stat.isFile()) return { text: await readFile(e.hostPath, 'utf8'), name: c };
    }
    throw new NotFoundError(`Cannot locate specified Dockerfile: ${name ?? 'Dockerfile'}`);
  }
}

/** One build: the stages of one Dockerfile, run in order. */
class BuildRun {
  private readonly emit: (msg: ProgressMessage) => void;
  private readonly say: (text: string) => void;
  private readonly stageImages: { name: string | undefined; imageId: string; index: number }[] = [];
  /** The build stream as given; `emit` sends to the running stage's place in it. */
  private readonly direct: (msg: ProgressMessage) => void;
  private readonly stageOut = STAGE_OUTPUT;
  private readonly metaArgs = new Map<string, string | undefined>();
  private readonly usedArgs = new Set<string>();
  /** The steps' images: stored only when needed as images, removed at the end unless kept. */
  private readonly images: StepImages;
  /** The `cacheFrom` images, when given. */
  private sources: CacheSources | undefined;
  private escape = '\\';
  private step = 0;
  private total = 0;

  /** SOURCE_DATE_EPOCH (build arg): the time every timestamp the build makes is clamped to. */
  private readonly epoch: Date | undefined;
  private readonly runEnv: RunEnv;

  constructor(
    private readonly d: BuilderDeps,
    private readonly opts: BuildOptions,
    private readonly context: LayeredFs,
    /** This build's scratch directory. */
    private readonly tmpDir: string,
  ) {
    this.images = new StepImages(d.store);
    this.direct = opts.onProgress ?? (() => undefined);
    this.emit = (m) => (this.stageOut.getStore()?.emit ?? this.direct)(m);
    this.say = opts.quiet ? () => undefined : (text) => this.emit({ stream: text });
    this.epoch = sourceDateEpoch(opts.buildArgs?.['SOURCE_DATE_EPOCH']);
    this.runEnv = { store: d.store, cacheMounts: d.cacheMounts, context, tmpDir, secrets: opts.secrets ?? {}, sourceImage: (from) => this.sourceImage(from) };
  }

  async run(text: string, tags: string[]): Promise<BuildResult> {
    const df = parseDockerfile(text);
    if (this.opts.cacheFrom?.length) this.sources = await CacheSources.resolve(this.opts.cacheFrom, this.d.images, this.d.store);
    this.escape = df.escape;
    const { meta, stages } = splitStages(df.instructions, df.escape);
    const last = targetStage(stages, this.opts.target);
    for (const [k, v] of platformArgs(this.opts.platform)) this.metaArgs.set(k, v);
    if (this.opts.buildArgs?.['SOURCE_DATE_EPOCH'] !== undefined) this.usedArgs.add('SOURCE_DATE_EPOCH');
    // The global ARGs' values first: FROM and --from may name stages through them.
    const globals = new Map(this.metaArgs);
    for (const ins of meta) for (const [name, value] of this.argDecls(ins, new WordExpander(this.escape, (n) => globals.get(n)))) globals.set(name, this.opts.buildArgs?.[name] ?? value ?? globals.get(name));
    // As BuildKit: only the stages the target reaches are built (and their steps counted).
    const deps = stageDeps(stages, this.escape, (n) => globals.get(n) ?? undefined);
    const need = neededStages(stages, last, this.escape, (n) => globals.get(n) ?? undefined);
    const run = stages.slice(0, last + 1).filter((_, i) => need.has(i));
    const index = run.map((st) => stages.indexOf(st));
    const labels = Object.entries(this.opts.labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
    // As Docker's classic builder: one LABEL step per label, shown unquoted.
    for (const [k, v] of labels) {
      run.at(-1)!.commands.push({ cmd: 'LABEL', flags: {}, json: false, args: [`${JSON.stringify(k)}=${JSON.stringify(v)}`], line: 0, original: `LABEL ${k}=${v}` });
    }
    this.total = meta.length + run.reduce((a, s) => a + 1 + s.commands.length, 0);
    for (const ins of meta) {
      this.printStep(ins);
      for (const [name, value] of this.argDecls(ins, new WordExpander(this.escape, (n) => this.metaArgs.get(n)))) {
        const given = this.opts.buildArgs?.[name];
        this.metaArgs.set(name, given ?? value ?? this.metaArgs.get(name));
        if (given !== undefined) this.usedArgs.add(name);
      }
    }
    const out = new OrderedOutput(run.length, this.direct);
    const live = new Map<number, StageState>();
    let next = this.step;
    const firstStep = run.map((s) => (next += 1 + s.commands.length) - 1 - s.commands.length);
    try {
      await runStages(
        run.map((_, pos) => deps[index[pos]!]!.map((d) => index.indexOf(d))),
        out,
        (pos, stopped) => {
          const stage = run[pos]!;
          const noCache = stage.name !== undefined && (this.opts.noCacheFilter ?? []).some((n) => n.toLowerCase() === stage.name);
          const ctx: StageOutput = { emit: (m) => out.write(pos, m), step: firstStep[pos]!, noCache };
          return this.stageOut.run(ctx, async () => {
            this.printStep(stage.from);
            const state = await this.beginStage(stage);
            live.set(pos, state);
            this.say(` ---> ${short(state.imageId)}\n`);
            for (const ins of stage.commands) {
              if (this.opts.signal?.aborted) throw buildCancelled();
              if (stopped()) throw new StageStopped();
              this.printStep(ins);
              await this.dispatch(state, ins);
              this.say(` ---> ${short(state.imageId)}\n`);
            }
            await this.images.materialize(state.imageId);
            // Docker's quiet build answers with the ID line alone, no aux messages.
            if (state.imageId && !this.opts.quiet) this.emit({ aux: { ID: state.imageId } });
            this.stageImages.push({ name: stage.name, imageId: state.imageId, index: index[pos]! });
          });
        },
      );
    } finally {
      await this.images.finish(this.d.images, [...this.stageImages.map((s) => s.imageId), ...[...live.values()].map((s) => s.imageId)]);
    }
    const unused = Object.keys(this.opts.buildArgs ?? {}).filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.has(k));
    if (unused.length) this.say(`[Warning] One or more build-args [${unused.sort().join(' ')}] were not consumed\n`);
    const id = live.get(run.length - 1)!.imageId;
    if (!id) throw new InvalidArgumentError('No image was generated. Is your Dockerfile empty?');
    this.say(`Successfully built ${short(id)}\n`);
    if (this.opts.quiet) this.emit({ stream: `${id}\n` });
    for (const t of tags) {
      await this.d.images.tag(id, t);
      this.say(`Successfully tagged ${t}\n`);
    }
    return { id, tags };
  }

  private printStep(ins: Instruction): void {
    const stage = this.stageOut.getStore();
    const n = stage ? ++stage.step : ++this.step;
    // Docker's classic builder sends the line and its newline as two messages; kept as is,
    // for clients that read the stream message by message.
    this.say(`Step ${n}/${this.total} : ${ins.original}`);
    this.say('\n');
  }

  /** An ARG's names and defaults, in order (`ARG A B=1`). */
  private argDecls(ins: Instruction, ex: WordExpander): [string, string | undefined, string][] {
    return splitRawWords((ins.args[0] ?? '').trim(), this.escape).map((raw) => {
      const eq = raw.indexOf('=');
      if (eq < 0) return [raw, undefined, raw];
      return [raw.slice(0, eq), ex.word(raw.slice(eq + 1)), raw];
    });
  }

  // ---------- FROM ----------

  private async beginStage(stage: StageDecl): Promise<StageState> {
    const ex = new WordExpander(this.escape, (n) => this.metaArgs.get(n));
    const words = splitRawWords(stage.from.args[0] ?? '', this.escape);
    const ref = ex.word(words[0]!);
    let imageId = '';
    let image: ImageConfig;
    const prior = this.stageImages.find((s) => s.name !== undefined && s.name === ref.toLowerCase());
    if (ref.toLowerCase() === 'scratch') {
      const p = hostPlatform();
      image = { architecture: p.architecture, os: p.os, config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
    } else {
      const platform = stage.from.flags['platform'] ? ex.word(stage.from.flags['platform']) : this.opts.platform;
      imageId = prior ? prior.imageId : await this.resolveImage(ref, platform);
      const stored = this.images.get(imageId);
      if (!stored) throw new NotFoundError(`No such image: ${ref}`);
      image = stored.config;
    }
    const config = cloneConfig(image.config);
    if (envLookup(config.Env, 'PATH') === undefined) config.Env = [...(config.Env ?? []), DEFAULT_PATH];
    const state: StageState = { imageId, image, config, args: new Map(), cmdSet: false };
    // The base image's ONBUILD triggers run first, and are not inherited (as Docker does).
    const triggers = config.OnBuild ?? [];
    if (triggers.length > 0) {
      delete config.OnBuild;
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}`);
      this.say('\n');
      for (const trigger of triggers) {
        const ins = parseDockerfile(trigger).instructions[0];
        if (ins) await this.dispatch(state, { ...ins, line: stage.from.line });
      }
    }
    return state;
  }

  private resolveImage(ref: string, platform?: string): Promise<string> {
    return resolveBaseImage(this.d.images, { ...this.opts, onProgress: this.emit }, ref, platform);
  }

  // ---------- dispatch ----------

  private expander(s: StageState): WordExpander {
    return new WordExpander(this.escape, (name) => {
      const env = envLookup(s.config.Env, name);
      if (env !== undefined) return env;
      if (s.args.has(name)) {
        this.usedArgs.add(name);
        return s.args.get(name);
      }
      return undefined;
    });
  }

  private async dispatch(s: StageState, ins: Instruction): Promise<void> {
    const ex = this.expander(s);
    const c = s.config;
    switch (ins.cmd) {
      case 'RUN':
        return this.runStep(s, ins, ex);
      case 'COPY':
      case 'ADD':
        return this.copyStep(s, ins, ex);
      case 'ENV': {
        const pairs = keyValues(ins, ex, this.escape);
        for (const [k, v] of pairs) c.Env = setEnv(c.Env ?? [], k, v);
        return this.metaStep(s, `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
      }
      case 'LABEL': {
        const pairs = keyValues(ins, ex, this.escape);
        c.Labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of pairs) c.Labels[k] = v;
        return this.metaStep(s, `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
      }
      case 'ARG': {
        const decls = this.argDecls(ins, ex);
        for (const [name, def] of decls) {
          const given = this.opts.buildArgs?.[name];
          let value = def;
          if (given !== undefined && given !== null) value = given;
          else if (def === undefined && this.metaArgs.has(name)) value = this.metaArgs.get(name);
          if (given !== undefined) this.usedArgs.add(name);
          s.args.set(name, value ?? undefined);
        }
        // Docker records the declaration (its default), not the value given.
        return this.metaStep(s, `ARG ${decls.map(([name, def]) => `${name}${def !== undefined ? `=${def}` : ''}`).join(' ')}`);
      }
      case 'CMD':
        c.Cmd = commandArgv(ins, c.Shell);
        s.cmdSet = true;
        return this.metaStep(s, `CMD ${JSON.stringify(c.Cmd)}`);
      case 'ENTRYPOINT':
        c.Entrypoint = commandArgv(ins, c.Shell);
        if (!s.cmdSet) delete c.Cmd;
        return this.metaStep(s, `ENTRYPOINT ${JSON.stringify(c.Entrypoint)}`);
      case 'SHELL':
        c.Shell = ins.args;
        return this.metaStep(s, `SHELL ${JSON.stringify(c.Shell)}`);
      case 'USER':
        c.User = ex.word(ins.args[0]!);
        return this.metaStep(s, `USER ${c.User}`);
      case 'WORKDIR': {
        const dir = ex.word(ins.args[0]!);
        c.WorkingDir = normalize(dir.startsWith('/') ? dir : posix.join(c.WorkingDir || '/', dir));
        return this.workdirStep(s, c.WorkingDir);
      }
      case 'EXPOSE': {
        const ports = exposedPorts(ex.words(ins.args[0]!));
        c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
        for (const p of ports) c.ExposedPorts[p] = {};
        return this.metaStep(s, `EXPOSE ${ports.join(' ')}`);
      }
      case 'VOLUME': {
        const vols = ins.json ? ins.args.map((a) => ex.word(a)) : ex.words(ins.args[0]!);
        if (vols.some((v) => v.trim() === '')) throw new InvalidArgumentError('VOLUME specified can not be an empty string');
        c.Volumes = { ...(c.Volumes ?? {}) };
        for (const v of vols) c.Volumes[v] = {};
        return this.metaStep(s, `VOLUME ${JSON.stringify(vols)}`);
      }
      case 'STOPSIGNAL':
        c.StopSignal = ex.word(ins.args[0]!);
        return this.metaStep(s, `STOPSIGNAL ${c.StopSignal}`);
      case 'HEALTHCHECK':
        c.Healthcheck = healthcheck(ins, c.Shell);
        return this.metaStep(s, `HEALTHCHECK ${JSON.stringify(c.Healthcheck)}`);
      case 'ONBUILD': {
        const trigger = (ins.args[0] ?? '').trim();
        c.OnBuild = [...(c.OnBuild ?? []), trigger.replace(/^\S+/, (k) => k.toUpperCase())];
        return this.metaStep(s, `ONBUILD ${trigger}`);
      }
      case 'MAINTAINER':
        s.image = { ...s.image, author: ex.word(ins.args[0]!) };
        return this.metaStep(s, `MAINTAINER ${s.image.author}`);
      default:
        throw new DockerfileParseError(ins.line, `unknown instruction: ${ins.cmd}`);
    }
  }

  /** A config-only step: a new image over the same layers, cached on (parent, description). */
  private async metaStep(s: StageState, description: string): Promise<void> {
    await this.commitStep(s, description, undefined, `/bin/sh -c #(nop)  ${description}`);
  }

  /**
   * Looks the step up in the cache (limited to the `cacheFrom` images' histories when given),
   * else makes its image from the stage's config plus an optional layer (`makeLayer` runs
   * only on a miss).
   */
  private async commitStep(s: StageState, cacheDescription: string, makeLayer: (() => Promise<LayerRecord>) | undefined, createdBy: string): Promise<void> {
    // Layer times are clamped to the epoch: a step made under another epoch is another step
    const key = BuildCache.key(s.imageId, `${cacheDescription}\n${JSON.stringify(s.config)}${this.epoch ? `\nSOURCE_DATE_EPOCH=${this.epoch.getTime() / 1000}` : ''}`);
    if (!this.opts.noCache && !this.stageOut.getStore()?.noCache) {
      const hit = this.d.cache.get(key);
      if (hit && (!this.sources || this.sources.accepts(JSON.parse(hit.config) as ImageConfig)) && (await this.images.intact(s.imageId, hit.layers))) {
        this.say(' ---> Using cache\n');
        this.adopt(s, this.images.addBytes(Buffer.from(hit.config), hit.layers));
        return;
      }
      const restored = this.sources?.restore(s.image, createdBy);
      if (restored) {
        this.say(' ---> Using cache\n');
        return this.writeStep(s, key, restored.layer, restored.history);
      }
    }
    const layer = makeLayer ? await makeLayer() : undefined;
    await this.writeStep(s, key, layer, { created: createdTime(this.epoch), created_by: createdBy, ...(layer ? {} : { empty_layer: true }) });
  }

  /** The step's image: the stage's config over the parent's layers plus `layer`, recorded in the cache. */
  private async writeStep(s: StageState, key: string, layer: LayerRecord | undefined, history: NonNullable<ImageConfig['history']>[number]): Promise<void> {
    const base = s.imageId ? this.images.get(s.imageId) : undefined;
    const layers = [...(base?.layers ?? []), ...(layer ? [layer] : [])];
    const config: ImageConfig = {
      ...s.image,
      created: history.created ?? createdTime(this.epoch),
      config: s.config,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) as ImageConfig['rootfs']['diff_ids'] },
      history: [...(s.image.history ?? []), history],
    };
    const id = this.images.add(config, layers);
    this.d.cache.put(key, { imageId: id, config: this.images.configBytes(id)!, layers });
    this.adopt(s, id);
  }

  private adopt(s: StageState, id: string): void {
    const img = this.images.get(id)!;
    s.imageId = id;
    s.image = img.config;
    s.config = cloneConfig(img.config.config);
  }

  // ---------- WORKDIR ----------

  private async workdirStep(s: StageState, dir: string): Promise<void> {
    const fs = await this.imageLayers(s.imageId);
    const missing: string[] = [];
    const parts = dir.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = '/' + parts.slice(0, i).join('/');
      if (!(await fs.stat(p))) missing.push(p.slice(1));
    }
    if (missing.length === 0) return this.metaStep(s, `WORKDIR ${dir}`);
    const now = this.epoch ?? new Date();
    await this.commitStep(
      s,
      `WORKDIR ${dir} (create)`,
      () => writeCopyLayer(this.d.store.content, missing.map((name) => ({ name, type: 'directory' as const, mode: 0o755, uid: 0, gid: 0, mtime: now, size: 0 }))),
      `/bin/sh -c #(nop) WORKDIR ${dir}`,
    );
  }

  /**
   * The image being built on, read through its layer directories without mounting (cheap,
   * also on cache hits): what exists at a destination, /etc/passwd for --chown. Opaque
   * directories are not honoured here; content that is copied out is read from a mount.
   */
  private async imageLayers(imageId: string): Promise<LayeredFs> {
    return new LayeredFs(imageId ? await this.images.layerDirs(imageId) : []);
  }

  /**
   * An image's filesystem, mounted read-only (overlayfs itself resolves whiteouts and opaque
   * directories) while `fn` runs.
   */
  private async withImageTree<T>(imageId: string, fn: (fs: LayeredFs) => Promise<T>): Promise<T> {
    const img = imageId ? this.images.get(imageId) : undefined;
    if (!img?.chainId) return fn(new LayeredFs([]));
    // Directly under the root as tmp-*: after a crash, the engine's start-up sweep unmounts it.
    const dir = await mkdtemp(join(this.d.root, 'tmp-tree-'));
    await this.d.store.mount(img.chainId, dir);
    try {
      return await fn(new LayeredFs([dir]));
    } finally {
      await this.d.store.unmount(dir);
    }
  }

  // ---------- COPY / ADD ----------

  private async copyStep(s: StageState, ins: Instruction, ex: WordExpander): Promise<void> {
    const fromFlag = ins.flags['from'] !== undefined ? ex.word(ins.flags['from']) : undefined;
    const a = await copyArgs(ins, ex, this.tmpDir, fromFlag);
    const wd = s.config.WorkingDir || '/';
    const dest = a.dest.startsWith('/') ? a.dest : posix.join(wd, a.dest) + (a.dest.endsWith('/') || a.dest === '.' ? '/' : '');
    const fromImage = fromFlag !== undefined ? await this.sourceImage(fromFlag) : undefined;
    const image = await this.imageLayers(s.imageId);
    const owner = ins.flags['chown'] ? await resolveOwner(ex.word(ins.flags['chown']), image) : undefined;
    const fetched = await fetchAll(a.urls, this.tmpDir, { timeoutMs: this.d.fetchTimeoutMs ?? 30_000, ...(a.checksum ? { checksum: a.checksum } : {}), ...(this.opts.signal ? { signal: this.opts.signal } : {}) });
    const copy = async (from: LayeredFs, fromContext: boolean): Promise<void> => {
      const plan = await planCopy({
        sources: a.sources,
        from,
        fromContext,
        dest,
        // --link: the layer is made as if on an empty image, so it is the same whatever it lands on
        image: a.link ? new LayeredFs([]) : image,
        ...(owner ? { owner } : {}),
        ...(a.chmod !== undefined ? { chmod: a.chmod } : {}),
        extractArchives: ins.cmd === 'ADD',
        instruction: ins.cmd,
        exclude: a.exclude,
        parents: a.parents,
        remote: fetched.files,
        ...(a.link || this.epoch ? { dirMtime: this.epoch ?? new Date(0) } : {}),
      });
      if (this.epoch) clampTimes(plan, this.epoch);
      const hash = await hashPlan(plan);
      const kind = a.sources.length === 0 ? '' : plan.length === 1 && plan[0]!.type === 'file' ? 'file:' : 'multi:';
      // The layer is written (on a cache miss) while the source tree is still mounted.
      await this.commitStep(s, `${ins.cmd} ${a.flagText}${hash} ${dest}`, () => writeCopyLayer(this.d.store.content, plan, this.epoch), `/bin/sh -c #(nop) ${ins.cmd} ${a.flagText}${kind}${hash} in ${dest} `);
    };
    const done = fromImage === undefined ? copy(a.heredocDir ? new LayeredFs([a.heredocDir, ...this.context.dirs]) : this.context, true) : this.withImageTree(fromImage, (from) => copy(from, false));
    await done.finally(() => fetched.release());
  }

  /** `--from=<stage name | stage index | image>` to an image ID ('' for a scratch stage). */
  private async sourceImage(from: string): Promise<string> {
    const byName = this.stageImages.find((x) => x.name !== undefined && x.name === from.toLowerCase());
    if (byName) return byName.imageId;
    if (/^\d+$/.test(from)) {
      const st = this.stageImages.find((x) => x.index === Number(from));
      if (!st) throw new InvalidArgumentError(`invalid from flag value ${from}: refers to current build stage or a stage not yet built`);
      return st.imageId;
    }
    return this.resolveImage(from);
  }

  // ---------- RUN ----------

  private async runStep(s: StageState, ins: Instruction, ex: WordExpander): Promise<void> {
    if (!s.imageId) throw new InvalidArgumentError('Please provide a source image with `from` prior to run');
    const plan = await planRun(this.runEnv, ins, s.config.Shell, ex);
    const argv = plan.argv;
    // Declared ARGs reach RUN as environment (not stored in the image); ENV wins over ARG.
    const argEnv: string[] = [];
    for (const [name, value] of s.args) {
      if (value === undefined || envLookup(s.config.Env, name) !== undefined) continue;
      argEnv.push(`${name}=${value}`);
      this.usedArgs.add(name);
    }
    const recorded = argEnv.filter((e) => !PROXY_ARGS.has(e.slice(0, e.indexOf('='))));
    const proxies = Object.entries(this.opts.buildArgs ?? {})
      .filter(([k, v]) => PROXY_ARGS.has(k) && v !== null && !s.args.has(k))
      .map(([k, v]) => `${k}=${v}`);
    const prefix = recorded.length ? `|${recorded.length} ${recorded.join(' ')} ` : '';
    const createdBy = prefix + argv.join(' ');
    const makeLayer = async (): Promise<LayerRecord> => {
      const setup = await plan.setup(await this.imageLayers(s.imageId));
      try {
        const deps = { containers: this.d.containers, store: this.d.store, opts: this.opts, say: this.say };
        const extras = {
          mounts: setup.mounts,
          exclude: setup.stubs,
          ...(plan.network ? { networkMode: plan.network } : {}),
          ...(this.epoch ? { clampMtime: Math.floor(this.epoch.getTime() / 1000) } : {}),
        };
        await this.images.materialize(s.imageId);
        return await runStepContainer(deps, s.imageId, s.config, argv, [...argEnv, ...proxies, ...setup.env], extras);
      } finally {
        await setup.release();
      }
    };
    await this.commitStep(s, `RUN ${JSON.stringify(argv)} ${JSON.stringify(recorded)}${plan.key}`, makeLayer, createdBy);
  }
}
