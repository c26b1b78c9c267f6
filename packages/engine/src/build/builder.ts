import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import {
  BerthError,
  InvalidArgumentError,
  NotFoundError,
  UnsupportedError,
  hostPlatform,
  normalizeReference,
  type ContainerConfig,
  type ImageConfig,
} from '@berth/image-format';
import type { AttachSession, ContainerService, ImageService } from '../services.js';
import type { OutputChunk, ProgressMessage, RegistryAuth } from '../docker-types.js';
import type { LayerRecord } from '../images/table.js';
import { DockerfileParseError, parseDockerfile, type Instruction } from './dockerfile.js';
import { WordExpander, splitRawWords } from './words.js';
import { BuildCache, BuildImageStore } from './image-store.js';
import { LayeredFs, normalize } from './layered-fs.js';
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

export interface BuilderDeps {
  store: BuildImageStore;
  cache: BuildCache;
  images: ImageService;
  containers: ContainerService;
  root: string;
  /** Extracts a (maybe gzip) tar into `dir`, refusing entries that escape it. */
  extract(tar: Readable, dir: string): Promise<void>;
}

/** Build args every Dockerfile may use without declaring them; never cached or recorded. */
const PROXY_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);

/** A step failure Docker reports in the stream (`The command '...' returned a non-zero code: 1`). */
export class BuildStepError extends BerthError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super('Internal', message);
  }
}

interface Stage {
  name: string | undefined;
  from: Instruction;
  commands: Instruction[];
}

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
      const text = await this.readDockerfile(ctx, opts.dockerfile);
      return await new BuildRun(this.d, opts, new LayeredFs([ctx])).run(text, tags);
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async readDockerfile(ctx: string, name: string | undefined): Promise<string> {
    const candidates = name ? [name] : ['Dockerfile', 'dockerfile'];
    for (const c of candidates) {
      const e = await new LayeredFs([ctx]).stat(c);
      if (e?.stat.isFile()) return readFile(e.hostPath, 'utf8');
    }
    throw new NotFoundError(`Cannot locate specified Dockerfile: ${name ?? 'Dockerfile'}`);
  }
}

/** One build: the stages of one Dockerfile, run in order. */
class BuildRun {
  private readonly emit: (msg: ProgressMessage) => void;
  private readonly say: (text: string) => void;
  private readonly stageImages: { name: string | undefined; imageId: string }[] = [];
  private readonly metaArgs = new Map<string, string | undefined>();
  private readonly usedArgs = new Set<string>();
  /** Images this build wrote (or wrote back from the cache): removed at the end unless kept. */
  private readonly stepImages = new Set<string>();
  private escape = '\\';
  private step = 0;
  private total = 0;

  constructor(
    private readonly d: BuilderDeps,
    private readonly opts: BuildOptions,
    private readonly context: LayeredFs,
  ) {
    this.emit = opts.onProgress ?? (() => undefined);
    this.say = opts.quiet ? () => undefined : (text) => this.emit({ stream: text });
  }

  async run(text: string, tags: string[]): Promise<BuildResult> {
    const df = parseDockerfile(text);
    this.escape = df.escape;
    const meta: Instruction[] = [];
    const stages: Stage[] = [];
    for (const ins of df.instructions) {
      if (ins.cmd === 'FROM') {
        const w = splitRawWords(ins.args[0] ?? '', df.escape);
        stages.push({ name: w.length === 3 ? w[2]!.toLowerCase() : undefined, from: ins, commands: [] });
      } else if (stages.length === 0) {
        if (ins.cmd !== 'ARG') throw new DockerfileParseError(ins.line, 'no build stage in current context');
        meta.push(ins);
      } else stages.at(-1)!.commands.push(ins);
    }
    if (stages.length === 0) throw new InvalidArgumentError('the Dockerfile (Dockerfile) cannot be empty');
    let last = stages.length - 1;
    if (this.opts.target) {
      const t = this.opts.target.toLowerCase();
      const idx = stages.findIndex((s) => s.name === t);
      if (idx < 0) throw new InvalidArgumentError(`failed to reach build target ${this.opts.target} in Dockerfile`);
      last = idx;
    }
    const run = stages.slice(0, last + 1);
    const labels = Object.entries(this.opts.labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
    if (labels.length) {
      const textArgs = labels.map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ');
      run.at(-1)!.commands.push({ cmd: 'LABEL', flags: {}, json: false, args: [textArgs], line: 0, original: `LABEL ${textArgs}` });
    }
    this.total = meta.length + run.reduce((a, s) => a + 1 + s.commands.length, 0);
    for (const ins of meta) {
      this.printStep(ins);
      const [name, value] = this.argDecl(ins, new WordExpander(this.escape, (n) => this.metaArgs.get(n)));
      const given = this.opts.buildArgs?.[name];
      this.metaArgs.set(name, given ?? value);
      if (given !== undefined) this.usedArgs.add(name);
    }
    let state: StageState | undefined;
    try {
      for (const stage of run) {
        this.printStep(stage.from);
        state = await this.beginStage(stage);
        this.say(` ---> ${short(state.imageId)}\n`);
        for (const ins of stage.commands) {
          if (this.opts.signal?.aborted) throw new BerthError('Internal', 'the build was cancelled');
          this.printStep(ins);
          await this.dispatch(state, ins);
          this.say(` ---> ${short(state.imageId)}\n`);
        }
        if (state.imageId) this.emit({ aux: { ID: state.imageId } });
        this.stageImages.push({ name: stage.name, imageId: state.imageId });
      }
    } finally {
      await this.removeIntermediates(state?.imageId);
    }
    const unused = Object.keys(this.opts.buildArgs ?? {}).filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.has(k));
    if (unused.length) this.say(`[Warning] One or more build-args [${unused.sort().join(' ')}] were not consumed\n`);
    const id = state!.imageId;
    if (!id) throw new InvalidArgumentError('No image was generated. Is your Dockerfile empty?');
    this.say(`Successfully built ${short(id)}\n`);
    if (this.opts.quiet) this.emit({ stream: `${id}\n` });
    for (const t of tags) {
      await this.d.images.tag(id, t);
      this.say(`Successfully tagged ${t}\n`);
    }
    return { id, tags };
  }

  /**
   * Removes the step images this build wrote except each stage's last one (which holds all
   * their layers, so the cache can write them back) and anything tagged or in use: Berth
   * has no parent links to hide intermediate images from `docker images` as Docker does.
   */
  private async removeIntermediates(current: string | undefined): Promise<void> {
    const keep = new Set([...this.stageImages.map((s) => s.imageId), ...(current ? [current] : [])]);
    for (const id of this.stepImages) {
      if (keep.has(id)) continue;
      try {
        const img = await this.d.images.inspect(id);
        if (img.RepoTags.length > 0) continue;
        await this.d.images.remove(id);
      } catch {
        // in use by a container, or already gone: left as it is
      }
    }
  }

  private printStep(ins: Instruction): void {
    this.step++;
    this.say(`Step ${this.step}/${this.total} : ${ins.original}\n`);
  }

  private argDecl(ins: Instruction, ex: WordExpander): [string, string | undefined] {
    const raw = (ins.args[0] ?? '').trim();
    const eq = raw.indexOf('=');
    if (eq < 0) return [raw, undefined];
    return [raw.slice(0, eq), ex.word(raw.slice(eq + 1))];
  }

  // ---------- FROM ----------

  private async beginStage(stage: Stage): Promise<StageState> {
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
      const platform = stage.from.flags['platform'] ? ex.word(stage.from.flags['platform']) : undefined;
      imageId = prior ? prior.imageId : await this.resolveImage(ref, platform);
      const stored = this.d.store.get(imageId);
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
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      for (const trigger of triggers) {
        const ins = parseDockerfile(trigger).instructions[0];
        if (ins) await this.dispatch(state, { ...ins, line: stage.from.line });
      }
    }
    return state;
  }

  /** A local image, pulled when missing (or always with `pull`); busybox falls back to the built-in one offline. */
  private async resolveImage(ref: string, platform?: string): Promise<string> {
    if (!this.opts.pull) {
      try {
        return (await this.d.images.inspect(ref)).Id;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    try {
      const auth = this.authFor(ref);
      return (
        await this.d.images.pull(ref, {
          onProgress: (m) => (this.opts.quiet ? undefined : this.emit(m)),
          ...(auth ? { auth } : {}),
          ...(platform ? { platform } : {}),
          ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        })
      ).Id;
    } catch (err) {
      const name = safeFamiliar(ref);
      if ((name === 'busybox:latest' || name === 'busybox') && err instanceof BerthError && err.code === 'Unavailable') {
        return (await this.d.images.ensureBuiltin('busybox')).Id;
      }
      if (this.opts.pull) {
        try {
          return (await this.d.images.inspect(ref)).Id;
        } catch {
          // fall through to the pull's error
        }
      }
      throw err;
    }
  }

  /** The credentials given for a reference's registry (keys as docker's config.json has them). */
  private authFor(ref: string): RegistryAuth | undefined {
    const all = this.opts.auth;
    if (!all) return undefined;
    let domain: string;
    try {
      domain = normalizeReference(ref).domain;
    } catch {
      return undefined;
    }
    for (const [server, auth] of Object.entries(all)) {
      const host = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
      if (host === domain || (domain === 'docker.io' && ['index.docker.io', 'registry-1.docker.io', 'docker.io'].includes(host))) return { ...auth, serveraddress: server };
    }
    return undefined;
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
        return this.runStep(s, ins);
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
        const [name, def] = this.argDecl(ins, ex);
        const given = this.opts.buildArgs?.[name];
        let value = def;
        if (given !== undefined && given !== null) value = given;
        else if (def === undefined && this.metaArgs.has(name)) value = this.metaArgs.get(name);
        if (given !== undefined) this.usedArgs.add(name);
        s.args.set(name, value ?? undefined);
        // Docker records the declaration (its default), not the value given.
        return this.metaStep(s, `ARG ${name}${def !== undefined ? `=${def}` : ''}`);
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
   * Looks the step up in the cache, else makes its image from the stage's config plus an
   * optional layer (`makeLayer` runs only on a miss).
   */
  private async commitStep(s: StageState, cacheDescription: string, makeLayer: (() => Promise<LayerRecord>) | undefined, createdBy: string): Promise<void> {
    const key = BuildCache.key(s.imageId, `${cacheDescription}\n${JSON.stringify(s.config)}`);
    if (!this.opts.noCache) {
      const hit = this.d.cache.get(key);
      if (hit && (await this.d.store.intact(hit.layers))) {
        this.say(' ---> Using cache\n');
        const back = await this.d.store.writeBytes(Buffer.from(hit.config), hit.layers);
        if (back.created) this.stepImages.add(back.id);
        this.adopt(s, hit.imageId);
        return;
      }
    }
    const base = s.imageId ? this.d.store.get(s.imageId) : undefined;
    const layers = [...(base?.layers ?? [])];
    const layer = makeLayer ? await makeLayer() : undefined;
    if (layer) layers.push(layer);
    const created = new Date().toISOString();
    const config: ImageConfig = {
      ...s.image,
      created,
      config: s.config,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) as ImageConfig['rootfs']['diff_ids'] },
      history: [...(s.image.history ?? []), { created, created_by: createdBy, ...(layer ? {} : { empty_layer: true }) }],
    };
    const { id, created: made } = await this.d.store.write(config, layers);
    if (made) this.stepImages.add(id);
    this.d.cache.put(key, { imageId: id, config: this.d.store.configBytes(id)!, layers });
    this.adopt(s, id);
  }

  private adopt(s: StageState, id: string): void {
    const img = this.d.store.get(id)!;
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
    const now = new Date();
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
    const img = imageId ? this.d.store.get(imageId) : undefined;
    return new LayeredFs(img?.chainId ? await this.d.store.layerDirs(img.chainId) : []);
  }

  /**
   * An image's filesystem, mounted read-only (overlayfs itself resolves whiteouts and opaque
   * directories) while `fn` runs.
   */
  private async withImageTree<T>(imageId: string, fn: (fs: LayeredFs) => Promise<T>): Promise<T> {
    const img = imageId ? this.d.store.get(imageId) : undefined;
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
    const words = ins.json ? ins.args.map((a) => ex.word(a)) : ex.words(ins.args[0]!);
    const dest0 = words.pop()!;
    const sources = words;
    if (ins.cmd === 'ADD') {
      const url = sources.find((x) => /^(https?|ftp):\/\//i.test(x) || /^git@/.test(x));
      if (url) throw new UnsupportedError(`ADD failed: downloading ${url} is not supported by Berth's builder (no network access for builds): add the file to the build context instead`);
    }
    const wd = s.config.WorkingDir || '/';
    const dest = dest0.startsWith('/') ? dest0 : posix.join(wd, dest0) + (dest0.endsWith('/') || dest0 === '.' ? '/' : '');
    const fromFlag = ins.flags['from'] !== undefined ? ex.word(ins.flags['from']) : undefined;
    let chmod: number | undefined;
    if (ins.flags['chmod']) {
      if (!/^[0-7]{3,4}$/.test(ins.flags['chmod'])) throw new InvalidArgumentError(`invalid chmod parameter: ${ins.flags['chmod']}`);
      chmod = parseInt(ins.flags['chmod'], 8);
    }
    const fromImage = fromFlag !== undefined ? await this.sourceImage(fromFlag) : undefined;
    const image = await this.imageLayers(s.imageId);
    const owner = ins.flags['chown'] ? await resolveOwner(ex.word(ins.flags['chown']), image) : undefined;
    const copy = async (from: LayeredFs, fromContext: boolean): Promise<void> => {
      const plan = await planCopy({ sources, from, fromContext, dest, image, ...(owner ? { owner } : {}), ...(chmod !== undefined ? { chmod } : {}), extractArchives: ins.cmd === 'ADD', instruction: ins.cmd });
      const hash = await hashPlan(plan);
      const flags = Object.entries(ins.flags).map(([k, v]) => `--${k}=${k === 'from' ? fromFlag : v} `).join('');
      const kind = plan.length === 1 && plan[0]!.type === 'file' ? 'file' : 'multi';
      // The layer is written (on a cache miss) while the source tree is still mounted.
      await this.commitStep(s, `${ins.cmd} ${flags}${hash} ${dest}`, () => writeCopyLayer(this.d.store.content, plan), `/bin/sh -c #(nop) ${ins.cmd} ${flags}${kind}:${hash} in ${dest} `);
    };
    if (fromImage === undefined) await copy(this.context, true);
    else await this.withImageTree(fromImage, (from) => copy(from, false));
  }

  /** `--from=<stage name | stage index | image>` to an image ID ('' for a scratch stage). */
  private async sourceImage(from: string): Promise<string> {
    const byName = this.stageImages.find((x) => x.name !== undefined && x.name === from.toLowerCase());
    if (byName) return byName.imageId;
    if (/^\d+$/.test(from)) {
      const st = this.stageImages[Number(from)];
      if (!st) throw new InvalidArgumentError(`invalid from flag value ${from}: refers to current build stage or a stage not yet built`);
      return st.imageId;
    }
    return this.resolveImage(from);
  }

  // ---------- RUN ----------

  private async runStep(s: StageState, ins: Instruction): Promise<void> {
    if (!s.imageId) throw new InvalidArgumentError('Please provide a source image with `from` prior to run');
    const argv = commandArgv(ins, s.config.Shell);
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
    await this.commitStep(s, `RUN ${JSON.stringify(argv)} ${JSON.stringify(recorded)}`, () => this.runContainer(s, argv, [...argEnv, ...proxies]), createdBy);
  }

  private async runContainer(s: StageState, argv: string[], env: string[]): Promise<LayerRecord> {
    const containers = this.d.containers;
    const network = this.opts.networkMode && this.opts.networkMode !== 'default' ? this.opts.networkMode : undefined;
    const { Id } = await containers.create({
      Image: s.imageId,
      Cmd: argv,
      Entrypoint: [],
      Env: [...(s.config.Env ?? []), ...env],
      ...(s.config.WorkingDir ? { WorkingDir: s.config.WorkingDir } : {}),
      ...(s.config.User ? { User: s.config.User } : {}),
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      HostConfig: { ...(network ? { NetworkMode: network } : {}) },
    });
    let ok = false;
    let session: AttachSession | undefined;
    try {
      this.say(` ---> Running in ${short(Id)}\n`);
      session = await containers.attach(Id, { stream: true, stdout: true, stderr: true });
      const output = session.output;
      const waited = containers.wait(Id, 'next-exit', this.opts.signal);
      // a build cancelled before the step started rejects it early: awaited below, never unhandled
      waited.catch(() => undefined);
      // One decoder per stream: a UTF-8 character split across chunks stays whole.
      const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
      const pumped = (async () => {
        for await (const chunk of output) {
          const c = chunk as OutputChunk;
          this.say(decoders[c.stream].write(c.data));
        }
      })().catch(() => undefined);
      await containers.start(Id);
      const { StatusCode } = await waited;
      // The output ends with the process; bounded in case the attach lags behind the exit.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([pumped, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      const rest = decoders.stdout.end() + decoders.stderr.end();
      if (rest) this.say(rest);
      if (StatusCode !== 0) {
        throw new BuildStepError(`The command '${argv.join(' ')}' returned a non-zero code: ${StatusCode}`, StatusCode);
      }
      const layer = this.d.store.layerOf(await this.d.store.diffContainer(Id));
      ok = true;
      return layer;
    } finally {
      session?.close();
      // As Docker: rm (the default) removes a step's container once the step succeeded; a
      // failed step's container stays for inspection unless --force-rm. A build cancelled
      // (its client went away) kills and removes it.
      if (this.opts.forceRm || (ok && this.opts.rm !== false) || this.opts.signal?.aborted) {
        if (ok) this.say(`Removing intermediate container ${short(Id)}\n`);
        await containers.remove(Id, { force: true }).catch(() => undefined);
      }
    }
  }
}

function short(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

function safeFamiliar(ref: string): string {
  try {
    return normalizeReference(ref).familiar();
  } catch {
    return ref;
  }
}
