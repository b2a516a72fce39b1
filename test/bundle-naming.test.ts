/** Release-set naming, platform matrices from velero's environment variables, and the sha256sum format. */
import { describe, expect, it } from 'vitest';
import { bundlePlatforms } from '../src/index.js';
import { formatSha256Sums } from '../src/release/checksums.js';
import { checksumFileName, expandName, imageListName, patternFor, PRESET_PATTERNS } from '../src/release/naming.js';
import { formatPlatform, parsePlatform } from '../src/platform/platform.js';
import { isAirpackError } from '../src/errors.js';

const vars = { prog: 'rke2', bin: 'velero', version: 'v1.14.0', set: '' };
const name = (preset: 'rke2' | 'velero', platform: string, set = ''): string => {
  const spec = parsePlatform(platform);
  return expandName(patternFor(PRESET_PATTERNS[preset], spec), spec, { ...vars, set });
};

describe('bundle naming', () => {
  it('names rke2 artifacts as rke2 publishes them', () => {
    expect(name('rke2', 'linux/amd64')).toBe('rke2-images.linux-amd64.tar.zst');
    expect(name('rke2', 'linux/arm64')).toBe('rke2-images.linux-arm64.tar.zst');
    expect(name('rke2', 'linux/amd64', 'canal')).toBe('rke2-images-canal.linux-amd64.tar.zst');
    expect(name('rke2', 'windows/amd64:ltsc2022')).toBe('rke2-windows-ltsc2022-amd64-images.tar.zst');
    expect(name('rke2', 'windows/amd64:1809')).toBe('rke2-windows-1809-amd64-images.tar.zst');
  });

  it('names velero artifacts as velero\'s Makefile does', () => {
    expect(name('velero', 'linux/arm64')).toBe('_output/velero-v1.14.0-linux-arm64.tar');
    expect(name('velero', 'windows/amd64:ltsc2022')).toBe('_output/velero-v1.14.0-windows-ltsc2022-amd64.tar');
  });

  it('derives image list and checksum file names', () => {
    expect(imageListName('rke2-images.linux-amd64.tar.zst')).toBe('rke2-images.linux-amd64.txt');
    expect(imageListName('velero-main-linux-amd64.tar')).toBe('velero-main-linux-amd64.txt');
    expect(checksumFileName('arm64')).toBe('sha256sum-arm64.txt');
  });

  it('rejects unknown placeholders, escaping names and Windows without a version', () => {
    const spec = parsePlatform('linux/amd64');
    for (const bad of ['{nope}.tar', '../x-{os}.tar', '/abs/{os}.tar']) {
      expect(() => expandName(bad, spec, vars)).toThrow(/name pattern/);
    }
    expect(() => expandName('{winver}.tar', parsePlatform('windows/amd64'), vars)).toThrow(/Windows version/);
  });

  it('builds the platform matrix from BUILD_OS, BUILD_ARCH and BUILD_WINDOWS_VERSION, Windows amd64 only', () => {
    const specs = bundlePlatforms({ env: { BUILD_OS: 'linux windows', BUILD_ARCH: 'amd64,arm64', BUILD_WINDOWS_VERSION: 'ltsc2022 ltsc2025' } });
    expect(specs.map(formatPlatform)).toEqual(['linux/amd64', 'linux/arm64', 'windows/amd64:ltsc2022', 'windows/amd64:ltsc2025']);
    expect(bundlePlatforms({}).map(formatPlatform)).toEqual(['linux/amd64']);
    expect(bundlePlatforms({ platforms: ['linux/arm/v7'], env: { BUILD_OS: 'windows' } }).map(formatPlatform)).toEqual(['linux/arm/v7']);
    try {
      bundlePlatforms({ env: { BUILD_OS: 'windows' } });
      expect.unreachable();
    } catch (err) {
      expect(isAirpackError(err) && err.code).toBe('INVALID_ARGUMENT');
    }
  });

  it('writes sha256sum lines sorted by name', () => {
    expect(formatSha256Sums([{ name: 'b.tar', sha256: 'bb' }, { name: 'a.txt', sha256: 'aa' }])).toBe('aa  a.txt\nbb  b.tar\n');
  });
});
