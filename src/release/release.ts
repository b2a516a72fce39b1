/**
 * A release description (YAML, or JSON by its .json name) declaring every
 * bundle of a release, built by one call with one blob cache, so blobs
 * shared between bundles download once:
 *
 *   { "outputDir": "dist/artifacts", "preset": "rke2", "prog": "rke2",
 *     "bundles": [
 *       { "imagesFile": "images.txt", "platforms": ["linux/amd64", "linux/arm64"] },
 *       { "set": "canal", "imagesFile": "images-canal.txt", "platforms": ["linux/amd64"] },
 *       { "imagesFile": "windows-images.txt", "platforms": ["windows/amd64:ltsc2022"] } ] }
 *
 * Top-level fields are defaults for every bundle. Paths (outputDir, output,
 * imagesFile, windowsImagesFile) are relative to the description file.
 * sha256sum files are written once, over all bundles' artifacts.
 */
import { readFile, rm } from 'node:fs/promises';
import { scratchDirectory } from '../io/cleanup.js';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AirpackError, fileErrorText, isFileError } from '../errors.js';
import { parseImageInput, parseImageList, type ImageInput } from '../ref/input.js';
import { bundleStaged, commitBundles, planBundle, writeChecksumFiles, type BundleOptions, type BundlePlan, type BundleResult, type StagedBundle } from './bundle.js';
import { StagingArea } from './staging.js';

type Shared = Omit<BundleOptions, 'images' | 'windowsImages' | 'sets' | 'onProgress' | 'registry' | 'env'>;

export interface ReleaseBundle extends Shared {
  images?: string[];
  /** Image list file(s), one reference a line. */
  imagesFile?: string | string[];
  windowsImages?: string[];
  windowsImagesFile?: string | string[];
  /** Image set name ({set} in names; rke2: `<prog>-images-<set>...`). */
  set?: string;
}

export interface ReleaseDescription extends Shared {
  bundles: ReleaseBundle[];
}

export interface ReleaseResult {
  bundles: BundleResult[];
  checksumFiles: string[];
}

const KEYS = new Set([
  'bundles', 'images', 'imagesFile', 'windowsImages', 'windowsImagesFile', 'set', 'platforms', 'output', 'outputDir', 'preset', 'name', 'windowsName',
  'prog', 'bin', 'version', 'layers', 'compression', 'level', 'frameSize', 'sideFiles', 'checksums', 'skipMissing', 'cacheDir', 'concurrency',
]);

async function readLists(files: string | string[] | undefined, base: string): Promise<ImageInput[]> {
  const out: ImageInput[] = [];
  for (const file of typeof files === 'string' ? [files] : (files ?? [])) {
    const full = path.resolve(base, file);
    let text: string;
    try {
      text = await readFile(full, 'utf8');
    } catch (err) {
      throw new AirpackError('INVALID_ARGUMENT', `imagesFile ${full}: cannot read it: ${fileErrorText(err as NodeJS.ErrnoException)}`, { cause: err });
    }
    out.push(...parseImageList(text, full, path.dirname(full)));
  }
  return out;
}

/** Build every bundle a release description declares. */
export async function bundleRelease(
  file: string,
  overrides: Pick<BundleOptions, 'onProgress' | 'registry' | 'env' | 'cacheDir' | 'concurrency' | 'skipMissing'> = {},
): Promise<ReleaseResult> {
  const base = path.dirname(path.resolve(file));
  let desc: ReleaseDescription;
  try {
    const text = await readFile(file, 'utf8');
    // YAML is a superset of JSON, but a .json file gets JSON's stricter parse and messages.
    desc = (/\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text)) as ReleaseDescription;
  } catch (err) {
    const why = isFileError(err) ? `cannot read it: ${fileErrorText(err)}` : (err as Error).message;
    throw new AirpackError('INVALID_ARGUMENT', `release description ${file}: ${why}`, { cause: err });
  }
  if (!desc || !Array.isArray(desc.bundles) || desc.bundles.length === 0) throw new AirpackError('INVALID_ARGUMENT', `release description ${file}: expected a "bundles" array`);
  for (const obj of [desc, ...desc.bundles]) {
    for (const key of Object.keys(obj)) if (!KEYS.has(key)) throw new AirpackError('INVALID_ARGUMENT', `release description ${file}: unknown field "${key}"`);
  }
  const keptCache = overrides.cacheDir ?? desc.cacheDir;
  const { bundles: entries, ...defaults } = desc;
  // Every bundle planned, and every name it will write checked against the others', before any
  // work: a name two bundles share was found only when the second overwrote the first's staged
  // file, the checksum file listed it twice, and the commit failed after all the downloads.
  const plans: Array<{ options: BundleOptions; plan: BundlePlan }> = [];
  const writtenBy = new Map<string, number>();
  for (const [i, entry] of entries.entries()) {
    const { imagesFile, windowsImagesFile, set, images, windowsImages, ...rest } = { ...defaults, ...entry } as ReleaseBundle;
    // Archive paths in the description, like its other paths, are relative to it.
    const inline = (refs: string[] | undefined): ImageInput[] => (refs ?? []).map((r) => parseImageInput(r, base));
    const list = [...inline(images), ...(await readLists(imagesFile, base))];
    const winList = windowsImages || windowsImagesFile ? [...inline(windowsImages), ...(await readLists(windowsImagesFile, base))] : undefined;
    const options: BundleOptions = {
      ...rest,
      // What the command line says wins over the description; what it leaves unsaid does not.
      ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
      checksums: false,
      ...(rest.output ? { output: path.resolve(base, rest.output) } : {}),
      ...(rest.outputDir ? { outputDir: path.resolve(base, rest.outputDir) } : {}),
    };
    if (set) options.sets = [{ name: set, images: list, ...(winList ? { windowsImages: winList } : {}) }];
    else {
      options.images = list;
      if (winList) options.windowsImages = winList;
    }
    const plan = planBundle(options);
    for (const f of plan.files) {
      const other = writtenBy.get(f);
      if (other !== undefined && other !== i) {
        throw new AirpackError('INVALID_ARGUMENT', `release description ${file}: bundles ${other + 1} and ${i + 1} both write ${path.relative(process.cwd(), f) || f}; give them different names (a {set}, another --name pattern or outputDir)`);
      }
      writtenBy.set(f, i);
    }
    plans.push({ options, plan });
  }
  const temp = keptCache === undefined ? scratchDirectory(path.join(os.tmpdir(), 'airpack-release-blobs-')) : undefined;
  const cacheDir = keptCache ?? temp!.path;
  const forget = temp?.forget ?? (() => {});
  const results: BundleResult[] = [];
  // All or nothing: every bundle is staged, and moved into place with the checksum files over all of
  // them only once all are built (the checksum files were written in place after the move: a failure
  // there left artifacts without them, or beside an earlier release's).
  const area = new StagingArea();
  const staged: StagedBundle[] = [];
  let checksumFiles: string[];
  try {
    for (const { options, plan } of plans) {
      const one = await bundleStaged({ ...options, cacheDir }, area, plan);
      staged.push(one);
      results.push(one.result);
    }
    // Over the staged artifacts, so into the staging directories, mirroring where they will be.
    const dirArtifacts = results.flatMap((r) => r.artifacts).filter((a) => a.imageList);
    const sums = desc.checksums === false ? [] : await writeChecksumFiles(dirArtifacts);
    checksumFiles = await commitBundles(area, staged, sums);
  } finally {
    await area.discard();
    if (!overrides.cacheDir && !desc.cacheDir) await rm(cacheDir, { recursive: true, force: true });
    forget();
  }
  return { bundles: results, checksumFiles };
}
