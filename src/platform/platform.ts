/**
 * Platforms: parsing `os/arch[/variant][:osversion]`, normalising them the
 * way containerd does (`linux/arm64` = `linux/arm64/v8`, `x86_64` = `amd64`),
 * and choosing the child of an index that serves a requested platform.
 *
 * Windows images are matched on the build number: `ltsc2022` means any
 * 10.0.20348.* and the highest revision wins, because an index for one
 * Windows release often carries several patch revisions. A full four-part
 * version matches only itself. (crane matches os.version as an exact string;
 * rke2 builds broke on that.)
 */
import { AirpackError, didYouMean } from '../errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** A requested platform: os/arch[/variant], optionally narrowed to a Windows version. */
export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
  /** As typed: `ltsc2022`, `10.0.20348`, `10.0.20348.2227`. */
  osVersionInput?: string;
  /** Resolved numeric prefix: 3 parts (build, any revision) or 4 parts (exact). */
  osVersion?: string;
}

/** Windows release names to build numbers (major.minor.build). */
export const WINDOWS_VERSIONS: Readonly<Record<string, string>> = {
  '1809': '10.0.17763',
  ltsc2019: '10.0.17763',
  '2004': '10.0.19041',
  '20h2': '10.0.19042',
  ltsc2022: '10.0.20348',
  ltsc2025: '10.0.26100',
  '2025': '10.0.26100',
};

const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
};

const TOKEN_RE = /^[a-z0-9_.-]+$/;

function normalizeArchVariant(architecture: string, variant: string | undefined): { architecture: string; variant?: string } {
  const arch = ARCH_ALIASES[architecture] ?? architecture;
  let v = variant;
  if (architecture === 'armhf') v = v ?? 'v7';
  if (architecture === 'armel') v = v ?? 'v6';
  if (arch === 'arm64' && (v === undefined || v === '' || v === 'v8' || v === '8')) return { architecture: arch };
  if (arch === 'arm' && v === undefined) v = 'v7';
  if (arch === 'arm' && v !== undefined && /^\d$/.test(v)) v = `v${v}`;
  if (arch === 'amd64' && v === 'v1') return { architecture: arch };
  return v ? { architecture: arch, variant: v } : { architecture: arch };
}

/** Resolve a Windows version name or number to the numeric prefix we match on. */
export function resolveWindowsVersion(input: string): string {
  const key = input.toLowerCase();
  const named = WINDOWS_VERSIONS[key];
  if (named) return named;
  if (/^\d+\.\d+\.\d+(\.\d+)?$/.test(input)) return input;
  throw new AirpackError(
    'INVALID_PLATFORM',
    `Windows version "${input}": expected a name (${Object.keys(WINDOWS_VERSIONS).join(', ')}) or a number like 10.0.20348 or 10.0.20348.2227`,
  );
}

/** Parse `os/arch[/variant][:osversion]`. */
/** The values the OCI image spec names for os and architecture: Go's GOOS and GOARCH. */
// `unknown/unknown` is what buildx writes on attestations: a valid value that selects no image.
// `wasi/wasm` is what Docker's wasm images carry.
const KNOWN_OS = ['unknown', 'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'wasi', 'wasip1', 'windows', 'zos'];
const KNOWN_ARCH = ['unknown', '386', 'amd64', 'amd64p32', 'arm', 'arm64', 'arm64be', 'armbe', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'ppc64', 'ppc64le', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm'];

export function parsePlatform(input: string): PlatformSpec {
  const fail = (why: string): never => {
    throw new AirpackError('INVALID_PLATFORM', `platform "${input}": ${why}; expected os/arch[/variant][:osversion], e.g. linux/arm64 or windows/amd64:ltsc2022`);
  };
  const [path = '', osVersionInput, extra] = input.trim().split(':');
  if (extra !== undefined) fail('more than one ":"');
  const parts = path.toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3) fail('wrong number of parts');
  if (!parts.every((p) => TOKEN_RE.test(p))) fail('empty or invalid part');
  const [os = '', rawArch = '', rawVariant] = parts;
  const spec: PlatformSpec = { os, ...normalizeArchVariant(rawArch, rawVariant) };
  // Checked here, before any registry is asked: a typo is the user's, not a missing platform.
  if (!KNOWN_OS.includes(os)) fail(`unknown os "${os}"${didYouMean(os, KNOWN_OS)}`);
  if (!KNOWN_ARCH.includes(spec.architecture)) fail(`unknown architecture "${rawArch}"${didYouMean(spec.architecture, KNOWN_ARCH)}`);
  if (osVersionInput !== undefined) {
    if (osVersionInput === '') fail('empty os version after ":"');
    if (os !== 'windows') fail('an os version is only meaningful for windows');
    spec.osVersionInput = osVersionInput;
    spec.osVersion = resolveWindowsVersion(osVersionInput);
  }
  return spec;
}

/** Normalise a platform read from an index or config (arch aliases, arm64 v8). */
export function normalizePlatform(p: Platform): Platform {
  const out: Platform = { os: p.os.toLowerCase(), ...normalizeArchVariant(p.architecture.toLowerCase(), p.variant?.toLowerCase()) };
  if (p['os.version']) out['os.version'] = p['os.version'];
  if (p['os.features']) out['os.features'] = p['os.features'];
  return out;
}

/** `linux/arm/v7`, `windows/amd64:10.0.20348.2227`. */
export function formatPlatform(p: Platform | PlatformSpec): string {
  let s = `${p.os}/${p.architecture}`;
  if (p.variant) s += `/${p.variant}`;
  const v = 'osVersionInput' in p || 'osVersion' in p ? (p as PlatformSpec).osVersionInput : (p as Platform)['os.version'];
  if (v) s += `:${v}`;
  return s;
}

/** buildx attestation manifests carry platform unknown/unknown: never an image. */
export function isAttestation(p: Platform | undefined): boolean {
  return p !== undefined && p.os === 'unknown' && p.architecture === 'unknown';
}

function versionParts(v: string | undefined): number[] {
  if (!v) return [];
  return v.split('.').map((n) => Number.parseInt(n, 10));
}

/** Does a concrete platform satisfy a request? (os.version is checked only when asked for.) */
export function platformMatches(spec: PlatformSpec, candidate: Platform): boolean {
  const p = normalizePlatform(candidate);
  if (p.os !== spec.os || p.architecture !== spec.architecture) return false;
  // A request without variant takes any variant only for arm (docker pulls v7 for "linux/arm").
  if ((spec.variant ?? '') !== (p.variant ?? '')) {
    const armDefault = spec.architecture === 'arm' && spec.variant === 'v7' && p.variant === undefined;
    if (!armDefault) return false;
  }
  if (spec.osVersion !== undefined) {
    const want = versionParts(spec.osVersion);
    const have = versionParts(p['os.version']);
    if (have.length < want.length) return false;
    for (let i = 0; i < want.length; i++) if (want[i] !== have[i]) return false;
  }
  return true;
}

/**
 * Pick the best of several candidates for one request: among those that
 * match, the highest os.version wins (newest Windows revision); the first
 * listed wins ties, as in the index order.
 */
export function selectPlatform<T extends { platform?: Platform }>(spec: PlatformSpec, candidates: readonly T[]): T | undefined {
  let best: T | undefined;
  let bestVersion: number[] = [];
  for (const c of candidates) {
    if (!c.platform || isAttestation(c.platform) || !platformMatches(spec, c.platform)) continue;
    const v = versionParts(c.platform['os.version']);
    if (best === undefined || compareVersions(v, bestVersion) > 0) {
      best = c;
      bestVersion = v;
    }
  }
  return best;
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/** Canonical platform key for naming and grouping: `linux-arm64`, `windows-ltsc2022-amd64`. */
export function platformKey(spec: PlatformSpec): string {
  if (spec.os === 'windows' && spec.osVersionInput) return `windows-${spec.osVersionInput.toLowerCase()}-${spec.architecture}`;
  return [spec.os, spec.architecture, spec.variant].filter(Boolean).join('-');
}
