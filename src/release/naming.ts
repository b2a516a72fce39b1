/**
 * Artifact names for release sets. A name pattern holds placeholders that are
 * filled per artifact; the presets reproduce the names real pipelines publish:
 *
 * - rke2:   `{prog}-images{-set}.{os}-{arch}.tar.zst` and
 *           `{prog}-windows-{winver}-{arch}-images.tar.zst`
 * - velero: `_output/{bin}-{version}-{os}-{arch}.tar` and
 *           `_output/{bin}-{version}-windows-{winver}-{arch}.tar`
 *
 * Placeholders: {prog} {bin} {version} {os} {arch} {variant} {winver}
 * {platform} (platformKey, e.g. linux-arm64, windows-ltsc2022-amd64),
 * {set} and {-set} ("" for the default set, "-NAME" otherwise).
 */
import { AirpackError } from '../errors.js';
import { platformKey, type PlatformSpec } from '../platform/platform.js';

export type BundlePreset = 'rke2' | 'velero';
export const BUNDLE_PRESETS: readonly BundlePreset[] = ['rke2', 'velero'];

/** Name patterns of one preset: Linux (any non-Windows os) and Windows. */
export interface NamePatterns {
  linux: string;
  windows: string;
}

export const PRESET_PATTERNS: Readonly<Record<BundlePreset, NamePatterns>> = {
  rke2: { linux: '{prog}-images{-set}.{os}-{arch}.tar.zst', windows: '{prog}-windows-{winver}-{arch}-images{-set}.tar.zst' },
  velero: { linux: '_output/{bin}-{version}-{os}-{arch}.tar', windows: '_output/{bin}-{version}-windows-{winver}-{arch}.tar' },
};

export interface NameVariables {
  prog: string;
  bin: string;
  version: string;
  /** Image set name; "" is the default set. */
  set: string;
}

const PLACEHOLDER_RE = /\{(-?)([a-z]+)\}/g;

/** Fill `pattern` for one platform. Throws INVALID_ARGUMENT on an unknown placeholder or a Windows platform without a version. */
export function expandName(pattern: string, spec: PlatformSpec, vars: NameVariables): string {
  const winver = spec.osVersionInput?.toLowerCase();
  const name = pattern.replace(PLACEHOLDER_RE, (whole, dash: string, key: string) => {
    let value: string | undefined;
    switch (key) {
      case 'prog':
      case 'bin':
      case 'version':
        value = vars[key];
        break;
      case 'set':
        value = vars.set;
        break;
      case 'os':
        value = spec.os;
        break;
      case 'arch':
        value = spec.architecture;
        break;
      case 'variant':
        value = spec.variant ?? '';
        break;
      case 'platform':
        value = platformKey(spec);
        break;
      case 'winver':
        if (!winver) throw new AirpackError('INVALID_ARGUMENT', `name pattern "${pattern}" needs a Windows version for ${spec.os}/${spec.architecture}; give one as windows/amd64:ltsc2022 or BUILD_WINDOWS_VERSION`);
        value = winver;
        break;
      default:
        throw new AirpackError('INVALID_ARGUMENT', `name pattern "${pattern}": unknown placeholder ${whole}; known: {prog} {bin} {version} {os} {arch} {variant} {winver} {platform} {set} {-set}`);
    }
    return dash && value ? `-${value}` : value;
  });
  if (name === '' || name.split('/').some((p) => p === '..') || name.startsWith('/')) {
    throw new AirpackError('INVALID_ARGUMENT', `name pattern "${pattern}" gives "${name}", which is not a relative path inside the output directory`);
  }
  return name;
}

/** The pattern for `spec`: Windows platforms take the Windows pattern. */
export function patternFor(patterns: NamePatterns, spec: PlatformSpec): string {
  return spec.os === 'windows' ? patterns.windows : patterns.linux;
}

/** `rke2-images.linux-amd64.tar.zst` -> `rke2-images.linux-amd64.txt`, as rke2 publishes its image lists. */
export function imageListName(artifact: string): string {
  return `${artifact.replace(/\.(tar\.zst|tar\.gz|tar|tzst|tgz)$/i, '')}.txt`;
}

/** `sha256sum-amd64.txt` */
export function checksumFileName(arch: string): string {
  return `sha256sum-${arch}.txt`;
}

/** Split an environment list ("linux windows", "amd64,arm64") into its items. */
export function envList(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter(Boolean);
}
