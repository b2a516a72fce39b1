/**
 * The registry as an image source: a reference resolves through the
 * registry's manifests, and a blob's bytes come from the registry that holds
 * the image and, for foreign (non-distributable) layers, from the URLs in
 * the descriptor, tried first because registries usually refuse to store
 * such layers.
 */
import type { BlobSource } from '../blob/download.js';
import { AirpackError } from '../errors.js';
import { firstHeader, type RegistryClient } from '../registry/client.js';
import { redactUrl, sendWithRetry, type TlsOptions } from '../registry/http.js';
import type { Descriptor } from '../spec/types.js';
import { resolveFrom, type Resolution } from './resolve.js';
import { manifestReference, type Reference } from '../ref/reference.js';
import type { PlatformSpec } from '../platform/platform.js';

export function registrySource(client: RegistryClient, repository: string, desc: Pick<Descriptor, 'digest' | 'size'>): BlobSource {
  return {
    name: `registry ${client.registry}`,
    async open(offset) {
      const { res, resumed } = await client.openBlob(repository, desc.digest, offset);
      // A length other than the descriptor's is known from the headers: say so now, instead of
      // reading to the end (or resuming a blob of 2^52 bytes that the registry ends at 44).
      const length = Number(firstHeader(res.headers['content-length']) ?? NaN);
      const expected = desc.size - (resumed ? offset : 0);
      if (Number.isSafeInteger(length) && desc.size >= 0 && length !== expected) {
        res.body.destroy();
        throw new AirpackError('SIZE_MISMATCH', `blob ${desc.digest} in ${client.registry}/${repository}: the registry sends ${length} bytes [expected ${expected}${resumed ? ` from byte ${offset}` : ''}]`);
      }
      return { body: res.body, resumed };
    },
  };
}

export function urlSource(url: string, tls?: TlsOptions): BlobSource {
  const parsed = new URL(url);
  return {
    name: redactUrl(parsed),
    async open(offset) {
      const res = await sendWithRetry({ url, headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, ...(tls ? { tls } : {}) });
      if (res.status === 206 && offset > 0) return { body: res.body, resumed: true };
      if (res.status === 200) return { body: res.body, resumed: false };
      res.body.resume();
      const code = res.status === 404 ? 'NOT_FOUND' : res.status === 401 ? 'UNAUTHORIZED' : res.status === 403 ? 'DENIED' : 'REGISTRY_ERROR';
      throw new AirpackError(code, `${redactUrl(parsed)}: HTTP ${res.status}`);
    },
  };
}

/** Sources for one blob, in the order to try them. */
export function blobSources(client: RegistryClient, repository: string, desc: Descriptor): BlobSource[] {
  const urls = (desc.urls ?? []).filter((u) => /^https?:\/\//i.test(u));
  return [...urls.map((u) => urlSource(u)), registrySource(client, repository, desc)];
}

/** Fetch a small blob (a config) and check it against its descriptor. */
export type FetchSmallBlob = (repository: string, desc: Descriptor, what: string) => Promise<Buffer>;

export function resolveImage(client: RegistryClient, ref: Reference, specs: readonly PlatformSpec[], fetchSmallBlob: FetchSmallBlob): Promise<Resolution> {
  return resolveFrom(ref, specs, {
    top: () => client.getManifest(ref.repository, manifestReference(ref)),
    child: (digest) => client.getManifest(ref.repository, digest),
    config: (desc, what) => fetchSmallBlob(ref.repository, desc, what),
    blobs: (desc) => blobSources(client, ref.repository, desc),
  });
}

