/**
 * Value types of the OCI image and distribution specs. The descriptor
 * `{ mediaType, digest, size }` is the currency between modules.
 */
import { AirpackError } from '../errors.js';
import type { Platform } from '../platform/platform.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  subject?: Descriptor;
  artifactType?: string;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  rootfs?: { type: string; diff_ids: string[] };
  [key: string]: unknown;
}

/** One entry of docker's manifest.json. */
export interface DockerManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, Descriptor>;
}

export const SHA256_DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** `sha256:abc` -> `abc`, after checking the form (digests become file names: no `..` may pass). */
export function digestHex(digest: string): string {
  if (!SHA256_DIGEST_RE.test(digest)) throw new AirpackError('MANIFEST_INVALID', `digest "${digest}" is not sha256:<64 lowercase hex>`);
  return digest.slice('sha256:'.length);
}
