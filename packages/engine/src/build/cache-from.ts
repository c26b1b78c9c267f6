import type { ImageConfig } from '@berth/image-format';
import type { ImageService } from '../services.js';
import type { LayerRecord } from '../images/table.js';
import type { BuildImageStore } from './image-store.js';

type History = NonNullable<ImageConfig['history']>[number];

/** A step found in a source image's history: its history entry and, unless empty, its layer. */
export interface RestoredStep {
  history: History;
  layer: LayerRecord | undefined;
}

interface Source {
  config: ImageConfig;
  layers: LayerRecord[];
}

/**
 * `cache_from` (`docker build --cache-from`), as Docker's classic builder has it: once
 * given, the build cache is limited to these images' histories. A cached step counts only
 * when its image lies on a source's history; a step with no cache entry is taken from a
 * source whose history goes on from the current image with the same command (so images
 * pulled or loaded, never built here, serve as cache too). Names that resolve to no image
 * are skipped, as Docker does: with none left, nothing comes from the cache.
 */
export class CacheSources {
  private constructor(private sources: Source[]) {}

  static async resolve(refs: string[], images: ImageService, store: BuildImageStore): Promise<CacheSources> {
    const sources: Source[] = [];
    for (const ref of refs) {
      try {
        const stored = store.get((await images.inspect(ref)).Id);
        if (stored) sources.push({ config: stored.config, layers: stored.layers });
      } catch {
        // not an image here: skipped
      }
    }
    return new CacheSources(sources);
  }

  /** Whether a cached step's image (its config) is one of the sources or on their history. */
  accepts(config: ImageConfig): boolean {
    return this.sources.some((s) => onHistory(config, s.config, true));
  }

  /**
   * The step that follows `parent` (undefined for `FROM scratch`) in a source's history when
   * it was made by `createdBy`. As Docker does, the first source that matches is then the
   * only one followed, so one build does not mix steps of two histories.
   */
  restore(parent: ImageConfig | undefined, createdBy: string): RestoredStep | undefined {
    const base = parent?.history?.length ?? 0;
    for (const s of this.sources) {
      const history = s.config.history ?? [];
      if (history.length <= base) continue;
      if (parent && !onHistory(parent, s.config, false)) continue;
      const next = history[base]!;
      if (next.created_by !== createdBy) continue;
      const layerIndex = history.slice(0, base).filter((h) => !h.empty_layer).length;
      const layer = next.empty_layer ? undefined : s.layers[layerIndex];
      if (!next.empty_layer && !layer) continue;
      this.sources = [s];
      return { history: next, layer };
    }
    return undefined;
  }
}

/** `img`'s history and layers are a prefix of `source`'s (the whole of it when `orSame`). */
function onHistory(img: ImageConfig, source: ImageConfig, orSame: boolean): boolean {
  const h = img.history ?? [];
  const sh = source.history ?? [];
  const d = img.rootfs?.diff_ids ?? [];
  const sd = source.rootfs?.diff_ids ?? [];
  if (h.length === 0 && d.length === 0) return true;
  if (h.length > sh.length || (!orSame && h.length === sh.length) || d.length > sd.length) return false;
  return h.every((e, i) => sameHistory(e, sh[i]!)) && d.every((x, i) => x === sd[i]);
}

function sameHistory(a: History, b: History): boolean {
  return a.created === b.created && a.created_by === b.created_by && a.author === b.author && a.comment === b.comment && !!a.empty_layer === !!b.empty_layer;
}
