/**
 * Image references, parsed and normalised the way docker and containerd do:
 * `busybox` is `docker.io/library/busybox:latest`, a first component with a
 * dot, a colon or the name `localhost` is a registry host, and a reference may
 * carry a tag, a digest, or both (`name:tag@sha256:...`).
 */
import { AirpackError } from '../errors.js';

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';
/** docker.io is a name, not a host: the API lives here. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

export interface Reference {
  /** Registry host, with port when given: `docker.io`, `localhost:5000`. */
  registry: string;
  /** Repository path inside the registry: `library/busybox`. */
  repository: string;
  /** Tag, when the reference names one (or defaulted to `latest` when it names neither). */
  tag?: string;
  /** `sha256:<hex>`, when the reference pins a digest. */
  digest?: string;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

/**
 * `text` with everything up to an `@` that starts no digest shown as `***@`:
 * such an `@` ends a `user:password` (which may itself hold `/` or `@`).
 * A digest's `@sha256:…` (any algorithm) is kept.
 */
export function redactUserinfo(text: string): string {
  return text.replace(/^.*@(?![a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]+$)/, '***@');
}

export function parseReference(input: string): Reference {
  const text = input.trim();
  const shown = redactUserinfo(text);
  const fail = (why: string): never => {
    throw new AirpackError('INVALID_REFERENCE', `image reference "${shown}": ${why}`);
  };
  if (text === '') fail('empty; expected name[:tag][@sha256:digest]');
  // Credentials typed into a reference are refused, and never echoed.
  if (shown !== text) fail('credentials ("user:password@") do not go in an image reference; put them in ~/.docker/config.json (docker login) or $REGISTRY_AUTH_FILE');

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) fail(`digest "${digest}" is not sha256:<64 lowercase hex>`);
  }

  // A tag is after the last colon, unless that colon belongs to a host:port (then a slash follows it).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) fail(`tag "${tag}" is invalid; expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }

  let registry = DEFAULT_REGISTRY;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      if (!HOST_RE.test(first)) fail(`registry host "${first}" is invalid`);
      registry = first;
      repository = rest.slice(slash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API_HOST) registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  if (!NAME_RE.test(repository)) {
    fail(`repository "${repository}" is invalid; expected lowercase components [a-z0-9] separated by . _ __ - or /`);
  }
  if (repository.length > 255) fail('repository name is longer than 255 characters');
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;

  const ref: Reference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `registry/repository` — the name without tag or digest. */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The fully qualified reference: `docker.io/library/busybox:latest`, `host/repo@sha256:...`. */
export function formatReference(ref: Reference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/**
 * The short form docker prints in RepoTags: `busybox:latest` for Docker Hub
 * library images, `rancher/x:v1` for other Hub images, the full name elsewhere.
 */
export function familiarName(ref: Reference): string {
  if (ref.registry !== DEFAULT_REGISTRY) return repositoryName(ref);
  return ref.repository.startsWith('library/') ? ref.repository.slice('library/'.length) : ref.repository;
}

/** What to ask the registry for: the digest when pinned (exact bytes), else the tag. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** The host to connect to for a registry name. */
export function apiHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry;
}
