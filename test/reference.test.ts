import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { familiarName, formatReference, parseReference, redactUserinfo } from '../src/ref/reference.js';
import { formatImageInput, isArchiveInput, parseImageInput, parseImageList } from '../src/ref/input.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['rancher/rke2-runtime:v1.30.1-rke2r1', 'docker.io/rancher/rke2-runtime:v1.30.1-rke2r1'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:v2', 'localhost:5000/app:v2'],
    ['127.0.0.1:5000/team/app', '127.0.0.1:5000/team/app:latest'],
    ['mcr.microsoft.com/windows/nanoserver:ltsc2022', 'mcr.microsoft.com/windows/nanoserver:ltsc2022'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`registry.example.com:443/a/b/c:1.0@${D}`, `registry.example.com:443/a/b/c:1.0@${D}`],
    ['a__b-c/e---f.g:T_ag-1.0', 'docker.io/a__b-c/e---f.g:T_ag-1.0'],
  ])('%s -> %s', (input, expected) => {
    expect(formatReference(parseReference(input))).toBe(expected);
  });

  it('keeps a digest-only reference without an invented tag', () => {
    const ref = parseReference(`busybox@${D}`);
    expect(ref.tag).toBeUndefined();
    expect(ref.digest).toBe(D);
  });

  it.each([
    ['', 'empty'],
    ['Busybox', 'repository "library/Busybox" is invalid'],
    ['busybox:', 'tag "" is invalid'],
    ['busybox@sha256:abc', 'is not sha256:<64 lowercase hex>'],
    ['a//b', 'is invalid'],
    ['busybox:-tag', 'tag "-tag" is invalid'],
    ['UPPER.example.com/x', ''],
  ])('rejects %j', (input, message) => {
    if (input === 'UPPER.example.com/x') {
      // An uppercase host is legal (hosts are case-insensitive); the path is what must be lowercase.
      expect(parseReference(input).registry).toBe('UPPER.example.com');
      return;
    }
    expect(() => parseReference(input)).toThrow(message);
    try {
      parseReference(input);
    } catch (err) {
      expect((err as { code: string }).code).toBe('INVALID_REFERENCE');
    }
  });

  it('gives docker-style familiar names for RepoTags', () => {
    expect(familiarName(parseReference('busybox'))).toBe('busybox');
    expect(familiarName(parseReference('rancher/x:v1'))).toBe('rancher/x');
    expect(familiarName(parseReference('localhost:5000/x'))).toBe('localhost:5000/x');
  });
});

describe('parseImageList', () => {
  it('reads rke2-style lists with comments and blank lines', () => {
    const refs = parseImageList('# rke2 images\n\ndocker.io/rancher/a:v1\n  rancher/b:v2   # trailing comment\r\n\n');
    expect(refs.map(formatImageInput)).toEqual(['docker.io/rancher/a:v1', 'docker.io/rancher/b:v2']);
  });

  it('names the file and line of a bad entry', () => {
    expect(() => parseImageList('ok:1\nBAD REF\n', 'images.txt')).toThrow(/images\.txt line 2: image reference "BAD REF"/);
  });
});

describe('credentials in a reference', () => {
  it.each([
    ['user:pa/ss@host/repo:1', 'pa/ss'],
    ['user:p@ss@host/repo:1', 'p@ss'],
    ['bob:pw@host/x@sha256:' + 'a'.repeat(64), 'bob:pw'],
  ])('%s is refused and the password never shown', (text, secret) => {
    let message = '';
    try {
      parseReference(text);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('credentials');
    expect(message).not.toContain(secret);
  });

  it('keeps a digest of any algorithm as it is', () => {
    expect(redactUserinfo('busybox:1.36@sha512:abcd')).toBe('busybox:1.36@sha512:abcd');
    expect(redactUserinfo(`busybox@${D}`)).toBe(`busybox@${D}`);
  });
});

describe('parseImageInput', () => {
  it('takes a bare archive name that exists as that file, and one that does not as a reference', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airpack-input-'));
    try {
      writeFileSync(join(dir, 'images.tar'), '');
      expect(parseImageInput('images.tar', dir)).toEqual({ archive: join(dir, 'images.tar') });
      expect(isArchiveInput(parseImageInput('other.tar.zst', dir))).toBe(false);
      // A tag that looks like an extension is still a tag.
      expect(isArchiveInput(parseImageInput('rancher/app:v1.tar', dir))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads skopeo-style archive inputs, with and without a NAME', () => {
    expect(parseImageInput('docker-archive:app.tar')).toEqual({ archive: 'app.tar', transport: 'docker-archive' });
    expect(parseImageInput('oci-archive:/x/app-oci.tar:example.com/app:1.2')).toEqual({ archive: '/x/app-oci.tar', name: parseReference('example.com/app:1.2'), transport: 'oci-archive' });
    expect(parseImageInput('oci:layout:app@sha256:' + 'a'.repeat(64))).toEqual({ archive: 'layout', name: parseReference('app@sha256:' + 'a'.repeat(64)), transport: 'oci' });
    expect(parseImageInput('./bundles/x.tar.zst')).toEqual({ archive: './bundles/x.tar.zst' });
    expect(parseImageInput('/abs/x.tar:rancher/x:v1')).toEqual({ archive: '/abs/x.tar', name: parseReference('rancher/x:v1') });
  });

  it('keeps registry references as references (a host with a port is not a path)', () => {
    const ref = parseImageInput('localhost:5000/oci:dir');
    expect(isArchiveInput(ref)).toBe(false);
    expect(formatImageInput(ref)).toBe('localhost:5000/oci:dir');
    expect(isArchiveInput(parseImageInput('busybox'))).toBe(false);
  });

  it('resolves relative archive paths against a base directory, and formats them back as written', () => {
    const input = parseImageInput('oci:../layout:app:1', '/work/lists');
    expect(input).toEqual({ archive: '/work/layout', name: parseReference('app:1'), transport: 'oci' });
    expect(formatImageInput(input)).toBe('oci:/work/layout:docker.io/library/app:1');
  });

  it('names the input when the path or NAME is bad', () => {
    expect(() => parseImageInput('oci:')).toThrow(/image input "oci:": no path/);
    expect(() => parseImageInput('docker-archive:x.tar:BAD NAME')).toThrow(/image input "docker-archive:x.tar:BAD NAME"/);
  });
});
