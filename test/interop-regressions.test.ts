/**
 * One test per problem the image-model issue found when airpack read
 * archives other tools wrote (public test data in ../shared/interop, copied
 * before any change), and per inconsistency between commands. Each ran the
 * built CLI, as a user would; the comment above each says what it did
 * before the fix.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './support/util.js';

const ROOT = join(__dirname, '..');
const INTEROP = join(ROOT, '..', 'shared', 'interop');
const airpack = (args: string[]) => run('node', [join(ROOT, 'bin/airpack.js'), ...args], { cwd: dir, env: { ...process.env, DOCKER_CONFIG: '/nonexistent' } });
const json = <T>(text: string): T => JSON.parse(text) as T;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airpack-interop-regressions-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A copy of an interop entry (they are read-only) in this test's directory. */
function copy(name: string, as = name): string {
  const to = join(dir, as);
  cpSync(join(INTEROP, name), to, { recursive: true });
  execFileSync('chmod', ['-R', 'u+w', to]);
  return to;
}

/** Flips one byte in the middle of the named entry's data of a plain tar. */
function flipByteInEntry(tarPath: string, entryName: string): void {
  const out = execFileSync('python3', [
    '-c',
    `import sys,tarfile
t=tarfile.open(sys.argv[1]); m=t.getmember(sys.argv[2]); print(m.offset_data+m.size//2)`,
    tarPath,
    entryName,
  ]);
  const at = Number(out.toString().trim());
  const bytes = readFileSync(tarPath);
  bytes[at] = bytes[at]! ^ 0xff;
  writeFileSync(tarPath, bytes);
}

interface LsJson {
  images: Array<{ names: string[]; refTag?: string; digest?: string; platforms: Array<{ platform?: string; manifestDigest?: string }> }>;
}
const lsImages = async (path: string): Promise<LsJson['images']> => {
  const res = await airpack(['ls', '--json', path]);
  expect(res.code, res.stderr).toBe(0);
  return json<LsJson[]>(res.stdout)[0]!.images;
};

describe('archives other tools write', () => {
  // Before: `verify` hashed only blobs/sha256/*: a flipped byte in <id>/layer.tar gave "ok: 1 image(s), 0 blobs".
  it('verify checks a docker-save layer against its diff_id, as skopeo does', async () => {
    const tar = copy('ggcr-tarball-test_image_1.tar', 'docker-save.tar');
    const ok = await airpack(['verify', '--json', tar]);
    expect(ok.code).toBe(0);
    expect(json<Array<{ blobs: number; blobBytes: number }>>(ok.stdout)[0]!.blobs).toBeGreaterThan(0);
    const layer = '555b1001d54ed229f56990845856f080b0707348b26b3aa85aaf58d5570cdee0/layer.tar';
    flipByteInEntry(tar, layer);
    const bad = await airpack(['verify', tar]);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain(`Layers[0] "${layer}"`);
    expect(bad.stderr).toMatch(/expected diff_id sha256:8897395f/);
    // skopeo refuses the same file for the same reason.
    const skopeo = await run('skopeo', ['copy', `docker-archive:${tar}`, `dir:${join(dir, 'skopeo-out')}`]);
    expect(skopeo.code).not.toBe(0);
    expect(skopeo.stderr).toContain('Digest did not match');
  });

  // Before: entries named ./index.json were not seen: 0 blobs hashed, no platforms, "has no linux/amd64 (it has )".
  it('reads an OCI layout tarred with `tar -C dir -cf x.tar .` (./-prefixed names)', async () => {
    const layout = copy('stereoscope-multiplatform_oci_dir', 'dot-layout');
    const tar = join(dir, 'dot.tar');
    execFileSync('tar', ['-C', layout, '-cf', tar, '.']);
    expect(execFileSync('tar', ['-tf', tar]).toString()).toContain('./index.json');
    const images = await lsImages(tar);
    expect(images[0]!.platforms.map((p) => p.platform)).toEqual(['linux/amd64', 'linux/arm64']);
    const v = await airpack(['verify', '--json', tar]);
    expect(v.code, v.stderr).toBe(0);
    expect(json<Array<{ blobs: number }>>(v.stdout)[0]!.blobs).toBeGreaterThanOrEqual(7);
    const out = join(dir, 'dot-arm64.tar');
    const x = await airpack(['extract', tar, 'multi-platform:latest', '-p', 'linux/arm64', '-o', out]);
    expect(x.code, x.stderr).toBe(0);
    expect((await airpack(['verify', out])).code).toBe(0);
    // A flipped byte inside a blob is caught here too.
    const blob = execFileSync('tar', ['-tf', tar]).toString().split('\n').find((n) => n.includes('blobs/sha256/') && !n.endsWith('/'))!;
    flipByteInEntry(tar, blob);
    expect((await airpack(['verify', tar])).code).toBe(4);
  });

  // Before: pull oci:DIR:name@sha256:<arm64 child> wrote the amd64 manifest under the arm64 digest's name.
  it('honours a digest pin on one child of an index', async () => {
    const layout = join(INTEROP, 'stereoscope-multiplatform_oci_dir');
    const arm64 = (await lsImages(layout))[0]!.platforms.find((p) => p.platform === 'linux/arm64')!.manifestDigest!;
    const out = join(dir, 'pinned.tar');
    const res = await airpack(['pull', `oci:${layout}:multi-platform@${arm64}`, '-p', 'linux/arm64', '-o', out, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(json<{ images: Array<{ digest: string; platform: string }> }>(res.stdout).images).toEqual([expect.objectContaining({ digest: arm64, platform: 'linux/arm64' })]);
    // Without -p the default platform is not the pinned manifest's: said so, with what it is.
    const wrong = await airpack(['pull', `oci:${layout}:multi-platform@${arm64}`, '-o', join(dir, 'pinned2.tar')]);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('[available: linux/arm64]');
  });

  // Before: a bare ref.name ("0.0.1") was taken as a repository: RepoTags "0.0.1:latest", `ls` showed <untagged>.
  it('takes a bare-tag ref.name as a tag that selects, not a repository', async () => {
    const layout = join(INTEROP, 'trivy-test_image_tag.oci');
    const images = await lsImages(layout);
    expect(images[0]!.refTag).toBe('0.0.1');
    expect(images[0]!.names).toEqual([]);
    const ls = await airpack(['ls', layout]);
    expect(ls.stdout).toContain('<no repository>:0.0.1');
    // Selected by the tag; it names no repository, so the error says how to name it, digest included.
    const unnamed = await airpack(['pull', `oci:${layout}:0.0.1`, '-o', join(dir, 'tag.tar')]);
    expect(unnamed.code).toBe(2);
    expect(unnamed.stderr).toContain(`:registry.example.com/app:0.0.1@${images[0]!.digest}`);
    expect(unnamed.stderr).not.toContain('0.0.1:latest');
    const missing = await airpack(['pull', `oci:${layout}:9.9`, '-o', join(dir, 'tag.tar')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('holds no image tagged 9.9');
    const named = await airpack(['pull', `oci:${layout}:example.com/app:0.0.1@${images[0]!.digest}`, '-o', join(dir, 'tag.tar')]);
    expect(named.code, named.stderr).toBe(0);
  });

  // Before: index.json with "manifests": null (Docker 25 save of a docker-store image) was refused by every command.
  it('reads a Docker 25 save whose index.json has "manifests": null', async () => {
    const tar = join(INTEROP, 'ggcr-tarball-hello-world-v25.tar');
    const images = await lsImages(tar);
    expect(images.length).toBe(1);
    const v = await airpack(['verify', tar]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('1 image(s)');
    // It carries no name (RepoTags null): named on the way in, as with skopeo's docker-archive:PATH:NAME.
    expect(images[0]!.names).toEqual([]);
    expect(images[0]!.platforms.map((p) => p.platform)).toEqual(['linux/arm64']);
    const out = join(dir, 'hello.tar');
    const pulled = await airpack(['pull', `docker-archive:${tar}:example.com/hello:1`, '-p', 'linux/arm64', '-o', out]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((await airpack(['verify', out])).code).toBe(0);
    expect((await airpack(['find', 'example.com/hello:1', out])).code).toBe(0);
  });

  // Before: verify refused an index that lists platforms whose blobs are absent (docker save from containerd's store).
  it('verify accepts a sparse index with a warning', async () => {
    const res = await airpack(['verify', join(INTEROP, 'oras-hello-world.tar')]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/is listed but not in the archive \(a sparse index/);
  });

  // Before: verify failed on an artifact whose config is not JSON; pull said "[available: /]".
  it('takes artifacts for what they are: a non-JSON config is no fault, and they have no platform', async () => {
    const layout = join(INTEROP, 'oras-zot-artifacts');
    const v = await airpack(['verify', layout]);
    expect(v.code, v.stderr).toBe(0);
    const images = await lsImages(layout);
    const artifact = images.find((i) => i.names.length > 0 && i.platforms.every((p) => p.platform === undefined));
    if (artifact) {
      const res = await airpack(['pull', `oci:${layout}:${artifact.names[0]}`, '-o', join(dir, 'artifact.tar')]);
      expect(res.code).toBe(3);
      expect(res.stderr).not.toContain('[available: /]');
      expect(res.stderr).toContain('not an image');
    }
  });

  // Before: extract failed on a docker save whose manifest.json names a symlinked <id>/layer.tar.
  it('extracts from a docker save whose layer.tar is a symlink', async () => {
    const tar = join(INTEROP, 'ggcr-tarball-test_link.tar');
    expect(execFileSync('tar', ['-tvf', tar]).toString()).toMatch(/^l/m);
    for (const name of (await lsImages(tar)).map((i) => i.names[0]!)) {
      const out = join(dir, `link-${sha256(Buffer.from(name)).slice(0, 8)}.tar`);
      const res = await airpack(['extract', tar, name, '-o', out]);
      expect(res.code, res.stderr).toBe(0);
      expect((await airpack(['verify', out])).code).toBe(0);
      const skopeo = await run('skopeo', ['inspect', `docker-archive:${out}`]);
      expect(skopeo.code, skopeo.stderr).toBe(0);
    }
  });

  // Before: `ls DIR` and `verify DIR` on an OCI layout directory failed with a raw EISDIR; find never looked inside.
  it('ls, verify and find read OCI layout directories', async () => {
    const layout = join(INTEROP, 'stereoscope-multiplatform_oci_dir');
    expect((await lsImages(layout))[0]!.names).toEqual(['docker.io/library/multi-platform:latest']);
    expect((await airpack(['verify', layout])).code).toBe(0);
    const found = await airpack(['find', 'multi-platform:latest', INTEROP]);
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout).toContain('stereoscope-multiplatform_oci_dir');
  });

  // Before: `airpack ls X | head -1` died with an unhandled EPIPE stack trace.
  it('exits quietly when the reader of its output goes away', async () => {
    const child = spawn('sh', ['-c', `node '${join(ROOT, 'bin/airpack.js')}' ls ${Array(40).fill(join(INTEROP, 'regclient-testrepo')).join(' ')} | head -1`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    await new Promise((r) => child.on('close', r));
    expect(stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(stderr).not.toMatch(/EPIPE|Error/);
  });

  // Before: a crane tarball (config "sha256:<hex>", layers "<hex>.tar.gz") showed platform "?".
  it('names the platform of a crane-style tarball', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const cfgName = `sha256:${sha256(config)}`;
    const pack = tarStream.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.entry({ name: cfgName }, config);
    pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: cfgName, RepoTags: ['example.com/crane:1'], Layers: [] }]));
    pack.finalize();
    await new Promise<void>((r) => pack.on('end', () => r()));
    const tar = join(dir, 'crane.tar');
    writeFileSync(tar, Buffer.concat(chunks));
    const images = await lsImages(tar);
    expect(images[0]!.platforms[0]!.platform).toBe('linux/arm64');
  });

  // Before: skopeo's index syntax docker-archive:PATH:@N was refused.
  it('takes docker-archive:PATH:@N, the Nth manifest.json item', async () => {
    const tar = join(INTEROP, 'ggcr-tarball-test_bundle.tar');
    const manifest = json<Array<{ RepoTags: string[] }>>(execFileSync('tar', ['-xOf', tar, 'manifest.json']).toString());
    for (const n of [0, 1]) {
      const out = join(dir, `item${n}.tar`);
      const res = await airpack(['pull', `docker-archive:${tar}:@${n}`, '-o', out, '--json']);
      expect(res.code, res.stderr).toBe(0);
      expect(json<{ images: Array<{ reference: string }> }>(res.stdout).images[0]!.reference).toBe(`docker.io/library/${manifest[n]!.RepoTags[0]}:latest`);
    }
    const none = await airpack(['pull', `docker-archive:${tar}:@5`, '-o', join(dir, 'item5.tar')]);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('no manifest.json item @5 [expected @0 to @1]');
  });
});

describe('every command treats the same fault the same way', () => {
  /** Every command that reads an archive, on `file`, asking for image `name` where one is named. */
  const readers = (file: string, out: string, name = 'x:1'): string[][] => [
    ['ls', file],
    ['verify', file],
    ['find', name, file],
    ['extract', file, name, '-o', out],
    ['pull', file.startsWith('/') ? file : `./${file}`, '-o', out],
    ['bundle', file.startsWith('/') ? file : `./${file}`, '-o', `${out}.zst`, '--level', '1'],
    ['reorder', file, '-o', out],
  ];

  // Before: a missing archive exited 3 from pull, 5 from ls.
  it('a missing input file exits 5 everywhere, naming it', async () => {
    const missing = join(dir, 'no-such-file.tar');
    for (const args of readers(missing, join(dir, 'out-missing.tar'))) {
      const res = await airpack(args);
      // find reports the unreadable file and finds nothing; everything else fails with I/O.
      expect({ args: args[0], code: res.code }).toEqual({ args: args[0], code: 5 });
      expect(res.stderr).toContain('no-such-file.tar');
      expect(existsSync(join(dir, 'out-missing.tar'))).toBe(false);
    }
  });

  // Before: .tar.bz2 was read by ls/find/verify, refused by pull, bundle and reorder.
  it('reads .tar.bz2 and .tar.lz4 in pull, bundle and reorder as in ls and verify', async () => {
    const plain = join(INTEROP, 'ggcr-tarball-test_image_1.tar');
    const want = json<{ images: Array<{ digest: string }> }>((await airpack(['pull', plain, '-o', join(dir, 'plain.tar'), '--json'])).stdout).images[0]!.digest;
    for (const tool of ['bzip2', 'lz4']) {
      const packed = join(dir, `img.tar.${tool}`);
      writeFileSync(packed, execFileSync(tool, ['-c'], { input: readFileSync(plain) }));
      const pulled = await airpack(['pull', packed, '-o', join(dir, `from-${tool}.tar`), '--json']);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(json<{ images: Array<{ digest: string }>; spilled: string[] }>(pulled.stdout)).toMatchObject({ images: [{ digest: want }], spilled: [packed] });
      expect((await airpack(['bundle', packed, '-o', join(dir, `from-${tool}.tar.zst`), '--level', '1'])).code).toBe(0);
      const reordered = await airpack(['reorder', packed, '-o', join(dir, `reordered-${tool}.tar`)]);
      expect(reordered.code, reordered.stderr).toBe(0);
      expect(readFileSync(join(dir, `reordered-${tool}.tar`)).subarray(0, 100).toString()).toMatch(/^manifest\.json/);
      expect((await airpack(['verify', packed])).code).toBe(0);
    }
  });

  // Before: a damaged .tar.gz was exit 70 with zlib's stack in ls, pull, reorder and extract.
  it('damaged gzip data is exit 4 everywhere, naming the file', async () => {
    const gz = readFileSync(join(INTEROP, 'trivy-alpine-310.tar.gz'));
    const bad = Buffer.from(gz);
    bad[Math.floor(bad.length / 2)] = bad[Math.floor(bad.length / 2)]! ^ 0xff;
    const damaged = join(dir, 'damaged.tar.gz');
    writeFileSync(damaged, bad);
    const cut = join(dir, 'cut.tar.gz');
    writeFileSync(cut, gz.subarray(0, Math.floor(gz.length / 2)));
    for (const file of [damaged, cut]) {
      // find too: it finds nothing, and says the file could not be read (4, not 1).
      for (const args of readers(file, join(dir, 'gz-out.tar'), 'alpine:3.10')) {
        const res = await airpack(args);
        expect({ args: args[0], file, code: res.code }).toEqual({ args: args[0], file, code: 4 });
        expect(res.stderr).not.toMatch(/\n\s+at /);
        expect(res.stderr).toContain(file);
        expect(existsSync(join(dir, 'gz-out.tar')) || existsSync(join(dir, 'gz-out.tar.zst')), `${args[0]} left an output`).toBe(false);
      }
    }
  });

  // Before: a corrupt multi-MB compressed docker-save layer made verify wait forever on 'drain' (exit 13, no output).
  it('verify reports a damaged multi-MB gzip layer of a docker save', async () => {
    const layer = gzipSync(randomBytes(3_000_000));
    layer[Math.floor(layer.length / 2)] = layer[Math.floor(layer.length / 2)]! ^ 0xff;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${'1'.repeat(64)}`] } }));
    const pack = tarStream.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.entry({ name: `sha256:${sha256(config)}` }, config);
    pack.entry({ name: 'layer.tar.gz' }, layer);
    pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: `sha256:${sha256(config)}`, RepoTags: ['example.com/big:1'], Layers: ['layer.tar.gz'] }]));
    pack.finalize();
    await new Promise<void>((r) => pack.on('end', () => r()));
    const tar = join(dir, 'big-gz-layer.tar');
    writeFileSync(tar, Buffer.concat(chunks));
    const res = await airpack(['verify', tar]);
    expect(res.code).toBe(4);
    expect(res.stderr).toContain('layer.tar.gz');
  });

  it('a symlink to an OCI layout directory is read by ls, verify and pull alike', async () => {
    const link = join(dir, 'layout-link');
    execFileSync('ln', ['-s', join(INTEROP, 'stereoscope-multiplatform_oci_dir'), link]);
    expect((await airpack(['ls', link])).code).toBe(0);
    expect((await airpack(['verify', link])).code).toBe(0);
    expect((await airpack(['pull', `oci:${link}`, '-o', join(dir, 'via-link.tar')])).code).toBe(0);
  });

  // Before: `bundle -o x.tar.gz` crashed (exit 70): the zstd default level 16 was handed to gzip.
  it('bundle -o x.tar.gz works at its default level, and refuses a zstd level for gzip up front', async () => {
    const tar = join(INTEROP, 'ggcr-tarball-test_image_1.tar');
    const gz = join(dir, 'out.tar.gz');
    const ok = await airpack(['bundle', tar, '-o', gz]);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await airpack(['verify', gz])).code).toBe(0);
    const bad = await airpack(['bundle', tar, '-o', join(dir, 'bad.tar.gz'), '--level', '16']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--level 16: not a gzip level for \S+bad\.tar\.gz \[expected 1 to 9/);
    expect(bad.stderr).not.toContain('.airpack-staging-');
  });

  it('a bad compression level is a usage error (exit 2) in bundle and reorder alike', async () => {
    const tar = join(INTEROP, 'ggcr-tarball-test_image_1.tar');
    for (const args of [['bundle', tar, '-o', join(dir, 'lvl.tar.zst'), '--level', '99'], ['reorder', tar, '-o', join(dir, 'lvl-r.tar.zst'), '--level', '99']]) {
      const res = await airpack(args);
      expect({ args: args[0], code: res.code }).toEqual({ args: args[0], code: 2 });
    }
  });

  // Before: pull accepted a tar without its end-of-archive blocks that verify refused.
  it('a tar cut on an entry boundary is complete everywhere; a cut inside an entry is exit 4 everywhere', async () => {
    const whole = readFileSync(join(INTEROP, 'ggcr-tarball-test_image_1.tar'));
    const ends = execFileSync('python3', ['-c', `import tarfile,sys
t=tarfile.open(sys.argv[1]); ms=t.getmembers(); last=ms[-1]; print(last.offset_data + ((last.size+511)//512)*512)`, join(INTEROP, 'ggcr-tarball-test_image_1.tar')]);
    const boundary = Number(ends.toString().trim());
    const cut = join(dir, 'cut.tar');
    writeFileSync(cut, whole.subarray(0, boundary));
    const name = 'bazel/v1/tarball:test_image_1';
    for (const [i, args] of readers(cut, join(dir, 'cut-out.tar'), name).entries()) {
      await rm(join(dir, 'cut-out.tar'), { force: true });
      const res = await airpack(args);
      expect({ args: args[0], i, code: res.code }).toEqual({ args: args[0], i, code: 0 });
    }
    expect((await airpack(['verify', cut])).stderr).toContain('without the end-of-archive marker');
    const inside = join(dir, 'cut-inside.tar');
    // Into the data of the last entry (manifest.json comes last in this docker save).
    writeFileSync(inside, whole.subarray(0, boundary - 300));
    for (const args of readers(inside, join(dir, 'in-out.tar'), name)) {
      const res = await airpack(args);
      expect({ args: args[0], code: res.code }).toEqual({ args: args[0], code: 4 });
      expect(existsSync(join(dir, 'in-out.tar')) || existsSync(join(dir, 'in-out.tar.zst')), `${args[0]} left an output`).toBe(false);
    }
    // Metadata first, a layer last (airpack's own order): ls and find, which stop reading once they can
    // name the images, still walk a plain tar's remaining headers and find the cut.
    const pulled = join(dir, 'layers-last.tar');
    expect((await airpack(['pull', join(INTEROP, 'ggcr-tarball-test_image_1.tar'), '-o', pulled])).code).toBe(0);
    const last = execFileSync('python3', ['-c', 'import tarfile,sys; m=tarfile.open(sys.argv[1]).getmembers()[-1]; print(m.offset_data + m.size // 2)', pulled]);
    const inLayer = join(dir, 'cut-in-layer.tar');
    writeFileSync(inLayer, readFileSync(pulled).subarray(0, Number(last.toString().trim())));
    for (const args of readers(inLayer, join(dir, 'layer-out.tar'), name)) {
      const res = await airpack(args);
      expect({ args: args[0], code: res.code }).toEqual({ args: args[0], code: 4 });
    }
  });

  // Issue 13, finding 6: verify said "checksum matches" right above the line saying it does not.
  it('verify says a checksum does not match when it does not', async () => {
    const tar = join(dir, 'summed', 'x.tar');
    execFileSync('mkdir', ['-p', join(dir, 'summed')]);
    cpSync(join(INTEROP, 'ggcr-tarball-test_image_1.tar'), tar);
    writeFileSync(join(dir, 'summed', 'sha256sum-amd64.txt'), `${'0'.repeat(64)}  x.tar\n`);
    const bad = await airpack(['verify', tar]);
    expect(bad.code).toBe(4);
    expect(bad.stdout).toContain('checksum does NOT match');
    expect(bad.stdout).not.toContain('checksum matches');
    writeFileSync(join(dir, 'summed', 'sha256sum-amd64.txt'), `${sha256(readFileSync(tar))}  x.tar\n`);
    const good = await airpack(['verify', tar]);
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('checksum matches');
  });
});
