/**
 * The README's front door: `npm run demo` on this machine (a loopback
 * docker-registry, sample images, the CLI against it) exits 0, shows each
 * step's result, and says why skopeo's digest is not the registry's (issue
 * 13, finding 10). The scripts are compiled as `npm run demo` compiles them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('npm run demo', () => {
  it('runs the main job against a loopback registry and explains the digests it shows', () => {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.scripts.json'], { stdio: 'ignore' });
    const run = spawnSync('node', ['build/scripts/demo.js'], { encoding: 'utf8', timeout: 240_000 });
    const output = `${run.stdout}${run.stderr}`;
    expect(run.status, output).toBe(0);
    expect(output).toMatch(/\$ airpack pull .* -o .*linux\.tar/);
    expect(output).toMatch(/^manifest\.json$/m);
    expect(output).toContain("skopeo reads manifest.json and rebuilds a docker manifest, so its digest is of that rebuilt manifest, not the registry's");
    expect(output).toMatch(/windows\/amd64 sha256:[0-9a-f]{64}/);
    expect(output).toMatch(/demo-windows-ltsc2022-amd64-images\.tar\.zst/);
    expect(output).toMatch(/archives in .*\(removed at exit/);
  }, 300_000);
});
