import { describe, expect, it } from 'vitest';
import { formatPlatform, parsePlatform, platformKey, platformMatches, selectPlatform, type Platform } from '../src/platform/platform.js';

const win = (v: string): { platform: Platform } => ({ platform: { os: 'windows', architecture: 'amd64', 'os.version': v } });

describe('parsePlatform', () => {
  it('normalises architectures and variants like containerd', () => {
    expect(parsePlatform('linux/arm64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/aarch64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/arm')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('Linux/ARM/v6')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' });
  });

  it('resolves Windows version names to build numbers', () => {
    expect(parsePlatform('windows/amd64:ltsc2022').osVersion).toBe('10.0.20348');
    expect(parsePlatform('windows/amd64:1809').osVersion).toBe('10.0.17763');
    expect(parsePlatform('windows/amd64:ltsc2019').osVersion).toBe('10.0.17763');
    expect(parsePlatform('windows/amd64:ltsc2025').osVersion).toBe('10.0.26100');
    expect(parsePlatform('windows/amd64:2025').osVersion).toBe('10.0.26100');
    expect(parsePlatform('windows/amd64:20H2').osVersion).toBe('10.0.19042');
    expect(parsePlatform('windows/amd64:10.0.20348.2227').osVersion).toBe('10.0.20348.2227');
  });

  it.each(['linux', 'linux/', '/amd64', 'linux/amd64/v8/x', 'windows/amd64:ltsc2099', 'linux/amd64:10.0.1', 'windows/amd64:'])('rejects %j with a clear error', (input) => {
    expect(() => parsePlatform(input)).toThrow(`platform "${input}"`.startsWith('platform "windows/amd64:ltsc2099') ? /Windows version "ltsc2099"/ : /expected|Windows version/);
  });

  it('formats and keys platforms for names', () => {
    expect(formatPlatform(parsePlatform('windows/amd64:ltsc2022'))).toBe('windows/amd64:ltsc2022');
    expect(platformKey(parsePlatform('windows/amd64:ltsc2022'))).toBe('windows-ltsc2022-amd64');
    expect(platformKey(parsePlatform('linux/arm/v7'))).toBe('linux-arm-v7');
  });
});

describe('platform matching', () => {
  const children = [
    { platform: { os: 'linux', architecture: 'amd64' } },
    win('10.0.17763.5458'),
    win('10.0.20348.2113'),
    win('10.0.20348.2227'),
    win('10.0.20348.887'),
    win('10.0.26100.1742'),
    { platform: { os: 'unknown', architecture: 'unknown' } },
  ];

  it('takes the highest revision of a Windows build', () => {
    expect(selectPlatform(parsePlatform('windows/amd64:ltsc2022'), children)?.platform?.['os.version']).toBe('10.0.20348.2227');
    expect(selectPlatform(parsePlatform('windows/amd64:10.0.20348'), children)?.platform?.['os.version']).toBe('10.0.20348.2227');
  });

  it('matches a four-part version exactly', () => {
    expect(selectPlatform(parsePlatform('windows/amd64:10.0.20348.2113'), children)?.platform?.['os.version']).toBe('10.0.20348.2113');
    expect(selectPlatform(parsePlatform('windows/amd64:10.0.20348.21'), children)).toBeUndefined();
  });

  it('does not confuse builds that share a prefix as strings', () => {
    const tricky = [win('10.0.203480.1'), win('10.0.2034.1')];
    expect(selectPlatform(parsePlatform('windows/amd64:10.0.20348'), tricky)).toBeUndefined();
  });

  it('takes the highest Windows version when none is asked for', () => {
    expect(selectPlatform(parsePlatform('windows/amd64'), children)?.platform?.['os.version']).toBe('10.0.26100.1742');
  });

  it('never picks attestations', () => {
    expect(selectPlatform(parsePlatform('unknown/unknown'), children)).toBeUndefined();
  });

  it('treats linux/arm64 and linux/arm64/v8 as the same', () => {
    expect(platformMatches(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(platformMatches(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' })).toBe(true);
    expect(platformMatches(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(false);
    expect(platformMatches(parsePlatform('linux/amd64'), { os: 'windows', architecture: 'amd64' })).toBe(false);
  });
});
