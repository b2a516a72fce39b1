/**
 * Image inputs: a registry reference, or an image archive on disk, named
 * the way skopeo names them so pipelines can reuse their strings:
 *
 *   docker-archive:PATH[:NAME]   a tar from docker save, crane, skopeo, buildx type=docker
 *   oci-archive:PATH[:NAME]      an OCI layout in a tar (buildx type=oci, skopeo)
 *   oci:PATH[:NAME]              an OCI layout directory (buildx type=oci,tar=false)
 *   /PATH, ./PATH, ../PATH       the same, for a bare path
 *
 * The transport name is for familiarity only: what the path holds decides
 * how it is read (a directory is an OCI layout; a file is a tar, plain or
 * compressed, with manifest.json and/or index.json). NAME, as in skopeo,
 * picks one image out of the archive (by tag or digest) and names an image
 * the archive leaves unnamed. As in skopeo, `oci:`/`oci-archive:` take a
 * bare tag (`oci:DIR:3.10`) as the layout's `org.opencontainers.image.ref.name`,
 * and `docker-archive:PATH:@N` picks the Nth item of manifest.json. The path
 * ends at the first colon after the transport, as in skopeo: a path with a
 * colon cannot be named this way.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { AirpackError } from '../errors.js';
import { formatReference, parseReference, redactUserinfo, type Reference } from './reference.js';

export interface ArchiveInput {
  /** The archive file or OCI layout directory, as a path (relative ones against the working or list directory). */
  archive: string;
  /** The image to take, and the name to give it when the archive has none. */
  name?: Reference;
  /** The transport as written (`docker-archive`, `oci-archive`, `oci`), for messages; absent for a bare path. */
  transport?: string;
  /** `oci:DIR:TAG`: the image whose `org.opencontainers.image.ref.name` is this bare tag. */
  refTag?: string;
  /** `docker-archive:PATH:@N`: the Nth (from 0) item of manifest.json. */
  item?: number;
}

export type ImageInput = Reference | ArchiveInput;

export const ARCHIVE_TRANSPORTS: readonly string[] = ['docker-archive', 'oci-archive', 'oci'];

/** A bare word that names an archive file by its extension. */
const ARCHIVE_FILE_NAME = /^[^:@]+\.(tar|tar\.gz|tgz|tar\.zst|tzst|tar\.bz2|tbz2?|tar\.lz4|tar\.xz|txz)$/i;

export function isArchiveInput(input: ImageInput): input is ArchiveInput {
  return 'archive' in input;
}

/** Parses a reference or an archive input; `baseDir` anchors relative archive paths (default: as given). */
export function parseImageInput(text: string, baseDir?: string): ImageInput {
  const trimmed = text.trim();
  const transport = ARCHIVE_TRANSPORTS.find((t) => trimmed.startsWith(`${t}:`));
  let rest: string;
  if (transport) rest = trimmed.slice(transport.length + 1);
  else if (/^\.{0,2}\//.test(trimmed)) rest = trimmed;
  // `images.tar` beside you is that file, not docker.io/library/images.tar:latest (a name no one pushes).
  else if (ARCHIVE_FILE_NAME.test(trimmed) && existsSync(baseDir ? path.resolve(baseDir, trimmed) : trimmed)) rest = trimmed;
  // So is a directory beside you (an OCI layout, or said not to be one), rather than a name to fetch from docker.io.
  else if (!/[:@]/.test(trimmed) && statSync(baseDir ? path.resolve(baseDir, trimmed) : trimmed, { throwIfNoEntry: false })?.isDirectory()) rest = trimmed;
  else return parseReference(trimmed);

  const colon = rest.indexOf(':');
  const file = colon >= 0 ? rest.slice(0, colon) : rest;
  if (file === '') throw new AirpackError('INVALID_REFERENCE', `image input "${redactUserinfo(text)}": no path; expected ${transport ?? 'docker-archive'}:PATH[:NAME]`);
  const input: ArchiveInput = { archive: baseDir ? path.resolve(baseDir, file) : file };
  if (transport) input.transport = transport;
  const selector = colon >= 0 ? rest.slice(colon + 1) : undefined;
  if (selector !== undefined && /^@\d+$/.test(selector)) {
    input.item = Number(selector.slice(1));
  } else if (selector !== undefined && (transport === 'oci' || transport === 'oci-archive') && /^[\w][\w.-]{0,127}$/.test(selector)) {
    input.refTag = selector;
  } else if (selector !== undefined) {
    try {
      input.name = parseReference(selector);
    } catch (err) {
      throw new AirpackError('INVALID_REFERENCE', `image input "${redactUserinfo(text)}": ${(err as Error).message}`, { cause: err });
    }
  }
  return input;
}

/** The input as the user would write it (for messages; a path with a colon does not parse back). */
export function formatImageInput(input: ImageInput): string {
  if (!isArchiveInput(input)) return formatReference(input);
  const selector = input.name ? formatReference(input.name) : input.refTag ?? (input.item !== undefined ? `@${input.item}` : undefined);
  return `${input.transport ?? 'docker-archive'}:${input.archive}${selector !== undefined ? `:${selector}` : ''}`;
}

/**
 * Reads an image list as rke2's images*.txt: one input a line, `#` starts a
 * comment, blank lines are ignored. Errors name the line. Relative archive
 * paths are taken against `baseDir` (the list's directory) when given.
 */
export function parseImageList(text: string, source = 'image list', baseDir?: string): ImageInput[] {
  const inputs: ImageInput[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    try {
      inputs.push(parseImageInput(line, baseDir));
    } catch (err) {
      throw new AirpackError('IMAGE_LIST_INVALID', `${source} line ${i + 1}: ${(err as Error).message}`, { cause: err });
    }
  });
  return inputs;
}
