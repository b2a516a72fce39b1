/**
 * `airpack manifest create / annotate / inspect / push`, as velero's
 * Makefile uses `docker manifest`: per-platform tags (main-linux-amd64,
 * main-linux-arm64, main-windows-ltsc2022-amd64) tied into one multi-arch
 * tag, the Windows child's os.version taken from its base image. Checked
 * against Debian's docker-registry, read back with skopeo per platform.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage, makeLayer, pushImage, seededBytes, type ImageFixture } from './support/fixtures.js';
import { startWorld, type World } from './helpers/world.js';
import { run, runOk } from './support/util.js';

const ROOT = join(__dirname, '..');
let world: World;
let lists: string;
let host: string;

const airpack = (args: string[]) =>
  run('node', [join(ROOT, 'bin/airpack.js'), ...args], { env: { ...process.env, DOCKER_CONFIG: '/nonexistent', AIRPACK_MANIFEST_DIR: lists } });
/** The manifest skopeo picks from `ref` for a platform: copied to a dir: layout, whose manifest.json is its exact bytes. */
let picks = 0;
const skopeoDigest = async (ref: string, extra: string[] = []): Promise<string> => {
  const out = join(world.dir, `pick-${picks++}`);
  await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', ...extra, `docker://${ref}`, `dir:${out}`]);
  return `sha256:${createHash('sha256').update(await readFile(join(out, 'manifest.json'))).digest('hex')}`;
};
const raw = async (ref: string): Promise<{ mediaType: string; manifests: Array<{ digest: string; mediaType: string; platform: Record<string, string> }> }> =>
  JSON.parse((await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout);

/** A per-platform image pushed under `repo:tag`, as a CI job would push it. */
async function pushTagged(image: ImageFixture | ReturnType<typeof makeImage>, repo: string, tag: string): Promise<string> {
  return pushImage(world.registry.url, repo, image, tag);
}

let amd64: string;
let arm64: string;
let windows: string;

beforeAll(async () => {
  world = await startWorld('airpack-manifest-');
  host = world.registry.host;
  lists = await mkdtemp(join(tmpdir(), 'airpack-lists-'));
  const { fx } = world;
  amd64 = await pushTagged(fx.multi.byPlatform['linux/amd64']!, 'velero/velero', 'main-linux-amd64');
  arm64 = await pushTagged(fx.multi.byPlatform['linux/arm64/v8']!, 'velero/velero', 'main-linux-arm64');
  // A Windows image whose config lacks os.version (as docker buildx writes it): annotate adds it.
  const win = makeImage({ os: 'windows', architecture: 'amd64', layers: [await makeLayer({ 'Files/velero.exe': seededBytes('velero-win', 30_000) })], manifestMediaType: 'docker' });
  windows = await pushTagged(win, 'velero/velero', 'main-windows-ltsc2022-amd64');
}, 120_000);

afterAll(async () => {
  await world?.stop();
  await rm(lists, { recursive: true, force: true });
});

describe('airpack manifest', () => {
  it("builds velero's multi-arch tag: create, annotate --os-version-from the base image, push; every platform resolves", async () => {
    const target = `${host}/velero/velero:main`;
    const src = (suffix: string): string => `${host}/velero/velero:main-${suffix}`;
    const created = await airpack(['manifest', 'create', target, src('linux-amd64'), src('linux-arm64'), src('windows-ltsc2022-amd64'), '--json']);
    expect(created.code, created.stderr).toBe(0);
    const list = JSON.parse(created.stdout) as { entries: Array<{ platform: Record<string, string>; digest: string }> };
    expect(list.entries.map((e) => `${e.platform.os}/${e.platform.architecture}${e.platform.variant ? `/${e.platform.variant}` : ''}`)).toEqual(['linux/amd64', 'linux/arm64/v8', 'windows/amd64']);
    expect(list.entries.map((e) => e.digest)).toEqual([amd64, arm64, windows]);
    // The list is kept on disk between the steps, as docker manifest keeps it.
    expect(await readdir(lists)).toHaveLength(1);

    // velero: osversion=$(docker manifest inspect $WINDOWS_BASE | jq -r '.manifests[0].platform."os.version"')
    const base = world.fx.windows.byOsVersion['10.0.20348.2227']!.ref;
    const annotated = await airpack(['manifest', 'annotate', target, src('windows-ltsc2022-amd64'), '--os-version-from', base, '--json']);
    expect(annotated.code, annotated.stderr).toBe(0);
    expect((JSON.parse(annotated.stdout) as typeof list).entries[2]!.platform['os.version']).toBe('10.0.20348.2227');

    // inspect shows the list as it will be pushed, before anything is pushed.
    const local = await airpack(['manifest', 'inspect', target]);
    expect(local.code, local.stderr).toBe(0);
    expect((JSON.parse(local.stdout) as { manifests: unknown[] }).manifests).toHaveLength(3);
    expect((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target}`])).code).not.toBe(0);

    const pushed = await airpack(['manifest', 'push', target, '--purge', '--json']);
    expect(pushed.code, pushed.stderr).toBe(0);
    const result = JSON.parse(pushed.stdout) as { digest: string; mediaType: string };
    // Mixed OCI and Docker children: an OCI index (it may name either).
    expect(result.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    const served = await raw(target);
    expect(served.manifests.map((m) => m.digest)).toEqual([amd64, arm64, windows]);
    expect(served.manifests[2]!.platform).toEqual({ architecture: 'amd64', os: 'windows', 'os.version': '10.0.20348.2227' });
    expect(await skopeoDigest(target, ['--override-os', 'linux', '--override-arch', 'arm64'])).toBe(arm64);
    expect(await skopeoDigest(target, ['--override-os', 'windows', '--override-arch', 'amd64'])).toBe(windows);
    expect(await skopeoDigest(target, ['--override-os', 'linux', '--override-arch', 'amd64'])).toBe(amd64);
    // --raw gives the registry's bytes exactly; --purge forgot the local list.
    const rawOut = await airpack(['manifest', 'inspect', '--raw', target]);
    expect(rawOut.stdout).toBe((await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target}`])).stdout);
    expect(await readdir(lists)).toEqual([]);
  });

  it('makes a Docker manifest list when every child is a Docker manifest, and --amend adds to the one in the registry', async () => {
    const { fx } = world;
    const target = `${host}/velero/restore-helper:v1`;
    await pushTagged(fx.dockerlist.byPlatform['linux/amd64']!, 'velero/restore-helper', 'v1-amd64');
    const created = await airpack(['manifest', 'create', target, `${host}/velero/restore-helper:v1-amd64`, '--push', '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect((JSON.parse(created.stdout) as { mediaType: string }).mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    await airpack(['manifest', 'rm', target]);
    // A later CI job adds arm64 to the pushed list.
    await pushTagged(fx.dockerlist.byPlatform['linux/arm64']!, 'velero/restore-helper', 'v1-arm64');
    const amended = await airpack(['manifest', 'create', '--amend', target, `${host}/velero/restore-helper:v1-arm64`, '--push', '--json']);
    expect(amended.code, amended.stderr).toBe(0);
    expect((await raw(target)).manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
  });

  it('copies children from another repository of the registry into the list\'s own before pushing the list', async () => {
    const target = `${host}/site/velero:main`;
    const res = await airpack(['manifest', 'create', target, `${host}/velero/velero:main-linux-amd64`, `${host}/velero/velero:main-linux-arm64`, '--push', '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as { copied: number }).copied).toBe(2);
    // Pulled whole from the new repository (blobs mounted there), per platform.
    expect(await skopeoDigest(target, ['--override-arch', 'arm64'])).toBe(arm64);
    expect(await skopeoDigest(target, ['--override-arch', 'amd64'])).toBe(amd64);
  });

  it('refuses what would make a wrong list, before anything is pushed, naming the images', async () => {
    const target = `${host}/velero/velero:dup`;
    const dup = await airpack(['manifest', 'create', target, `${host}/velero/velero:main-linux-amd64`, `${host}/library/single:latest`]);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/main-linux-amd64 and .*single:latest are both linux\/amd64/);
    const nested = await airpack(['manifest', 'create', `${host}/velero/velero:nested`, world.fx.multi.ref]);
    expect(nested.code).toBe(2);
    expect(nested.stderr).toContain('is itself a manifest list');
    const again = await airpack(['manifest', 'create', `${host}/velero/velero:twice`, `${host}/velero/velero:main-linux-amd64`]);
    expect(again.code, again.stderr).toBe(0);
    const twice = await airpack(['manifest', 'create', `${host}/velero/velero:twice`, `${host}/velero/velero:main-linux-arm64`]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('--amend');
    const typo = await airpack(['manifest', 'annotate', `${host}/velero/velero:twice`, `${host}/velero/velero:main-linux-amd64`, '--arch', 'amd46']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('did you mean "amd64"');
    // An os.version is one image's: for several sources at once it is refused before anything is read.
    const shared = await airpack(['manifest', 'create', `${host}/velero/velero:osv`, `${host}/velero/velero:main-linux-amd64`, `${host}/velero/velero:main-windows-ltsc2022-amd64`, '--os-version', '10.0.20348.2227']);
    expect(shared.code).toBe(2);
    expect(shared.stderr).toContain('--os-version is for one image, and 2 are named');
    expect(shared.stderr).toContain('--amend');
    const none = await airpack(['manifest', 'push', `${host}/velero/velero:never-created`]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('none is being built');
    expect((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/velero/velero:dup`])).code).not.toBe(0);
  });
});
