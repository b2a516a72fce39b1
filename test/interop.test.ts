/**
 * Interop: every archive in ../shared/interop (made by other projects'
 * tools and test suites), plus archives made here with skopeo, podman and
 * containerd, through every read command and input path of the CLI.
 *
 * One table, one loop. Each row says what the CORRECT outcome is, derived
 * from what skopeo 1.9 reads of the same input: where skopeo reads an input,
 * airpack must read it too, with the same names, platforms and digests (the
 * "agrees with skopeo" check asks skopeo inside the test); where the input is
 * broken, airpack must refuse it with exit 4 and name the problem; and a copy
 * of every good entry with one byte flipped in its largest blob must fail
 * `verify` with exit 4. A row that fails is a bug in airpack or a wrong
 * row: find out which against skopeo before changing either.
 *
 * Exit codes (README): 0 ok, 1 find: not found, 2 usage, 3 not in the source
 * (no such image/platform), 4 integrity (corrupt or malformed data), 5 I/O.
 * No command may ever exit 70, print a stack trace or fail with EISDIR.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it as vit, vi } from 'vitest';
import {
  INTEROP_DIR,
  airpack,
  airpackPiped,
  corruptLargestBlob,
  makeCraneTarball,
  makeRealToolArchives,
  plainTarOf,
  runTool,
  sha256,
  tarDotPrefixed,
  tarMembers,
  tarNames,
  type RealToolArchives,
} from './support/interop.js';
import { startRegistry, type RegistryHandle } from './support/registry.js';

// ---------------------------------------------------------------------------
// The shape of a row

type Code = number | readonly number[];

interface ImageExpect {
  /** Full names the image must carry (ls --json `names`). */
  names?: string[];
  /** No name at all (docker save by digest, Docker 25 with RepoTags null). */
  unnamed?: true;
  /**
   * A bare-tag `org.opencontainers.image.ref.name` (`latest`, `3.18`): ls must
   * show it, and never as a repository (`docker.io/library/latest:latest`).
   */
  tag?: string;
  /** The index.json digest of the image (manifest or index). */
  digest?: string;
  /** Platforms it must list. */
  platforms?: string[];
  /** An artifact or a config without os/architecture: no platform string at all (not "/" or "?"). */
  noPlatform?: true;
}

interface PullExpect {
  /** The input, as skopeo names it; {p} is the entry's path, {host} the loopback registry. */
  src: string;
  platform?: string;
  code?: Code;
  /** stderr (or, for verify, the problems) must match. */
  message?: RegExp;
  notMessage?: RegExp;
  /** skopeo ref of the same image: the output must hold the config skopeo reads from it. */
  like?: string;
  /** With `like`: the architecture skopeo picks (--override-arch). */
  likeArch?: string;
  /** Names the output must carry. */
  named?: string[];
  /** Bare tags that must not become repositories in the output's names. */
  notNamed?: string[];
}

interface Row {
  entry: string;
  from: 'interop' | 'real' | 'derived';
  what: string;
  /** Readable and intact: the corrupted copy must fail verify. */
  good: boolean;
  /** skopeo refs that read this input ({p}); ls must agree with each. */
  skopeo?: string[];
  ls: { code?: Code; images?: ImageExpect[]; count?: number; message?: RegExp };
  verify: { code: Code; message?: RegExp };
  /**
   * Every entry goes through find, extract, pull, bundle and reorder. Refs may name `{digest}` (what
   * skopeo resolves for the row's first skopeo ref: the index.json entry) or `{config}` (its config
   * digest: a docker-save image's ID).
   */
  find: { ref: string; code?: Code; platforms?: string[]; alsoFromParent?: true };
  extract: { ref: string; platform?: string; code?: Code; like?: string; message?: RegExp; notMessage?: RegExp };
  pull: PullExpect[];
  bundle: PullExpect;
  /** `airpack ls X | head -1` must exit quietly. */
  head?: true;
}

const intact = { code: 0 } as const;
const refused = (code: number, message: RegExp) => ({ code, message });
const lists = (...images: ImageExpect[]) => ({ code: 0, images });
/** Any ls outcome but a crash: for layouts whose index.json is fine but whose blobs are gone. */
const lsNoCrash = { code: [0, 4] } as const;
/**
 * airpack pulls images for platforms into docker-archive + OCI layouts. An
 * artifact (non-image config, no platform) cannot go into a docker-archive;
 * skopeo copies it as an artifact, so airpack must at least say what it is,
 * not "no image for platform linux/amd64 [available: /]".
 */
const ARTIFACT = /artifact|not an image|config media ?type|application\/vnd\.(unknown|oci\.empty|cncf)/i;
const NOT_SLASH = /available: \/\]/;
/**
 * oras' test "images" have configs without rootfs ({"architecture":"amd64","os":"linux"}), which the image
 * spec requires. skopeo copies the OCI bytes, but a docker-archive made of them does not load: skopeo reads
 * it back with "Invalid image config (rootFS is not set)", and bundle (uncompressed layers) needs the
 * diff_ids. airpack's archives must load, so it refuses them as malformed (bundle already does).
 */
const NO_ROOTFS = /rootfs|diff_ids/i;

// ---------------------------------------------------------------------------
// The table

const ROWS: Row[] = [
  // --- docker save, old layout (<id>/layer.tar, repositories), from containers/image, go-containerregistry, trivy
  {
    entry: 'cimage-almostempty.tar',
    from: 'interop',
    what: 'docker save (old)',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['docker.io/library/emptyimage:latest'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'emptyimage:latest', platforms: ['linux/amd64'] },
    extract: { ref: 'emptyimage:latest', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    entry: 'ggcr-mutate-overwritten_file.tar',
    from: 'interop',
    what: 'docker save (old), 3 layers',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['docker.io/bazel/pkg/v1/mutate:overwritten_file'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'bazel/pkg/v1/mutate:overwritten_file', platforms: ['linux/amd64'] },
    extract: { ref: 'bazel/pkg/v1/mutate:overwritten_file', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    entry: 'ggcr-mutate-source_image.tar',
    from: 'interop',
    what: 'docker save (old)',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['docker.io/bazel/pkg/v1/mutate:source_image'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'bazel/pkg/v1/mutate:source_image', platforms: ['linux/amd64'] },
    extract: { ref: 'bazel/pkg/v1/mutate:source_image', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    // Its config file is named 6e0b0504….json but holds other bytes (sha256 05b5ec12…): ggcr edited the
    // history without renaming it. skopeo reports config sha256:05b5ec12… (the content) and copies the image;
    // docker load takes the config by content too. So verify passes, and ls must report the content digest.
    entry: 'ggcr-mutate-source_image_with_empty_layer_history.tar',
    from: 'interop',
    what: 'docker save (old), config file name is not its digest',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['docker.io/bazel/pkg/v1/mutate:source_image'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'bazel/pkg/v1/mutate:source_image', platforms: ['linux/amd64'] },
    extract: { ref: 'bazel/pkg/v1/mutate:source_image', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    entry: 'ggcr-mutate-whiteout_image.tar',
    from: 'interop',
    what: 'docker save (old), whiteouts',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['docker.io/bazel/pkg/v1/mutate:whiteout_image'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'bazel/pkg/v1/mutate:whiteout_image', platforms: ['linux/amd64'] },
    extract: { ref: 'bazel/pkg/v1/mutate:whiteout_image', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    entry: 'ggcr-tarball-test_image_1.tar',
    from: 'interop',
    what: 'docker save (old), bazel',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['docker.io/bazel/v1/tarball:test_image_1'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'bazel/v1/tarball:test_image_1', platforms: ['linux/amd64'] },
    extract: { ref: 'bazel/v1/tarball:test_image_1', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    entry: 'ggcr-tarball-test_image_2.tar',
    from: 'interop',
    what: 'docker save (old), bazel',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['docker.io/bazel/v1/tarball:test_image_2'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'bazel/v1/tarball:test_image_2', platforms: ['linux/amd64'] },
    extract: { ref: 'bazel/v1/tarball:test_image_2', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    entry: 'ggcr-tarball-test_load_manifest.tar',
    from: 'interop',
    what: 'docker save (old), bazel',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['docker.io/bazel/v1/tarball:test_image_1'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'bazel/v1/tarball:test_image_1', platforms: ['linux/amd64'] },
    extract: { ref: 'bazel/v1/tarball:test_image_1', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    // RepoTags "test_image_1" / "test_image_2" carry no tag: go-containerregistry (which wrote and reads this
    // file) takes them as :latest. skopeo 1.9 finds neither by name ("Tag docker.io/library/test_image_2:latest
    // not found") but reads both as docker-archive:PATH:@0 and :@1, so airpack must take `:@N` as well.
    entry: 'ggcr-tarball-test_bundle.tar',
    from: 'interop',
    what: 'docker save (old), 2 images, tag-less RepoTags',
    good: true,
    skopeo: ['docker-archive:{p}:@0', 'docker-archive:{p}:@1'],
    ls: { code: 0, count: 2, images: [{ names: ['docker.io/library/test_image_2:latest'] }, { names: ['docker.io/library/test_image_1:latest'] }] },
    verify: intact,
    find: { ref: 'test_image_1', platforms: ['linux/amd64'] },
    extract: { ref: 'test_image_1', like: 'docker-archive:{p}:@1' },
    pull: [
      { src: 'docker-archive:{p}:@1', like: 'docker-archive:{p}:@1' },
      { src: 'docker-archive:{p}:test_image_2', like: 'docker-archive:{p}:@0' },
    ],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    // test_image_3's first layer.tar is a symlink to test_image_1's (older docker save wrote shared layers so).
    // skopeo 1.9 inspects :@1 but its copy fails on the link ("Size mismatch … expected 0, got 10240": it takes
    // the link header's size, a c/image bug); go-containerregistry's tarball reader, the origin, follows it.
    entry: 'ggcr-tarball-test_link.tar',
    from: 'interop',
    what: 'docker save (old), symlinked layer.tar',
    good: true,
    skopeo: ['docker-archive:{p}:@0', 'docker-archive:{p}:@1'],
    ls: lists({ names: ['docker.io/bazel/v1/tarball:test_image_1'] }, { names: ['docker.io/bazel/v1/tarball:test_image_3'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'bazel/v1/tarball:test_image_3', platforms: ['linux/amd64'] },
    extract: { ref: 'bazel/v1/tarball:test_image_3', like: 'docker-archive:{p}:@1' },
    pull: [{ src: 'docker-archive:{p}:bazel/v1/tarball:test_image_3', like: 'docker-archive:{p}:@1' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    // skopeo 1.9 reads no compressed docker-archive ("archive/tar: invalid tar header"); it reads the gunzipped
    // copy, which is what the skopeo checks use. airpack documents .tar.gz input.
    entry: 'trivy-alpine-310.tar.gz',
    from: 'interop',
    what: 'docker save (old), gzipped whole',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['docker.io/library/alpine:3.10'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'alpine:3.10', platforms: ['linux/amd64'] },
    extract: { ref: 'alpine:3.10', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    entry: 'trivy-alpine-311.tar.gz',
    from: 'interop',
    what: 'docker save (old), gzipped whole',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['docker.io/library/alpine:3.11'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'alpine:3.11', platforms: ['linux/amd64'] },
    extract: { ref: 'alpine:3.11', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },

  // --- docker save, Docker 25+ (index.json beside manifest.json)
  {
    // index.json is {"manifests": null}: Docker 25 on a host whose image store is not containerd's. skopeo reads
    // it as docker-archive (one image, linux/arm64, RepoTags null); only its oci-archive view is empty. An
    // empty index is not damage: manifest.json describes the image.
    entry: 'ggcr-tarball-hello-world-v25.tar',
    from: 'interop',
    what: 'docker save (Docker 25+), "manifests": null, unnamed, arm64',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: { code: 0, count: 1, images: [{ unnamed: true, platforms: ['linux/arm64'] }] },
    verify: intact,
    // Unnamed: its config digest is its ID (docker images, docker save <id>), and names it.
    find: { ref: 'example.com/x@{config}', platforms: ['linux/arm64'] },
    extract: { ref: 'example.com/x@{config}', platform: 'linux/arm64', like: 'docker-archive:{p}' },
    pull: [
      { src: 'docker-archive:{p}', platform: 'linux/arm64', code: 2, message: /name/i },
      { src: 'docker-archive:{p}:example.com/hello:v25', platform: 'linux/arm64', like: 'docker-archive:{p}', named: ['example.com/hello:v25'] },
    ],
    bundle: { src: 'docker-archive:{p}:example.com/hello:v25', platform: 'linux/arm64' },
  },
  {
    // A containerd export (index.json + manifest.json) of one platform of hello-world: its docker manifest list
    // names 11 platforms, only linux/amd64's blobs are in the file. skopeo reads and copies it (oci-archive: and
    // docker-archive:); `skopeo --override-arch arm64 copy` fails. So verify passes, and find names the one platform
    // the file holds.
    entry: 'oras-hello-world.tar',
    from: 'interop',
    what: 'containerd export, sparse docker manifest list',
    good: true,
    skopeo: ['oci-archive:{p}', 'docker-archive:{p}'],
    ls: lists({ names: ['docker.io/library/hello-world:latest'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'hello-world:latest', platforms: ['linux/amd64'] },
    extract: { ref: 'hello-world:latest', like: 'oci-archive:{p}' },
    pull: [
      { src: 'oci-archive:{p}', like: 'oci-archive:{p}' },
      { src: 'docker-archive:{p}', like: 'docker-archive:{p}' },
    ],
    bundle: { src: 'oci-archive:{p}' },
    head: true,
  },
  {
    // The same file with every entry named "./…" (tar -C dir -cf x.tar .). skopeo reads it the same way.
    entry: 'oras-hello-world-prefixed-path.tar',
    from: 'interop',
    what: 'containerd export, ./-prefixed names, sparse list',
    good: true,
    skopeo: ['oci-archive:{p}', 'docker-archive:{p}'],
    ls: lists({ names: ['docker.io/library/hello-world:latest'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'hello-world:latest', platforms: ['linux/amd64'] },
    extract: { ref: 'hello-world:latest', like: 'oci-archive:{p}' },
    pull: [{ src: 'oci-archive:{p}', like: 'oci-archive:{p}' }],
    bundle: { src: 'oci-archive:{p}' },
  },

  // --- OCI layouts in a tar
  {
    entry: 'stereoscope-valid-oci.tar',
    from: 'interop',
    what: 'OCI layout tar, ref.name sample:latest',
    good: true,
    skopeo: ['oci-archive:{p}'],
    ls: lists({ names: ['docker.io/library/sample:latest'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'sample:latest', platforms: ['linux/amd64'] },
    extract: { ref: 'sample:latest', like: 'oci-archive:{p}' },
    pull: [{ src: 'oci-archive:{p}', like: 'oci-archive:{p}' }],
    bundle: { src: 'oci-archive:{p}' },
  },

  // --- OCI layout directories
  {
    // A docker/containerd "image save" layout: one index entry (a nested index, amd64 + arm64) named by
    // io.containerd.image.name. skopeo inspect --raw oci:DIR lists both children.
    entry: 'stereoscope-multiplatform_oci_dir',
    from: 'interop',
    what: 'OCI dir, nested index amd64+arm64, containerd name',
    good: true,
    skopeo: ['oci:{p}'],
    ls: lists({ names: ['docker.io/library/multi-platform:latest'], tag: 'latest', platforms: ['linux/amd64', 'linux/arm64'] }),
    verify: intact,
    find: { ref: 'multi-platform:latest', platforms: ['linux/amd64', 'linux/arm64'] },
    extract: { ref: 'multi-platform:latest', like: 'oci:{p}' },
    pull: [
      { src: 'oci:{p}', like: 'oci:{p}' },
      // sha256:5ed07065… is the linux/arm64 child (skopeo inspect --raw oci:DIR). A digest names one manifest:
      // the output must hold that one (config sha256:3cd60225…, what skopeo --override-arch arm64 reads), or,
      // with the default -p linux/amd64, refuse with 3; never write the amd64 manifest under the arm64 digest.
      { src: 'oci:{p}:multi-platform@sha256:5ed07065bcbc6c52e3ad28526557d7b6833613fc79257b1a786de85e37c03b05', code: [0, 3], like: 'oci:{p}', likeArch: 'arm64' },
      { src: 'oci:{p}:multi-platform@sha256:5ed07065bcbc6c52e3ad28526557d7b6833613fc79257b1a786de85e37c03b05', platform: 'linux/arm64', like: 'oci:{p}', likeArch: 'arm64' },
    ],
    bundle: { src: 'oci:{p}' },
  },
  {
    // The same manifest under bare tags "latest" (no platform) and "1.0" (with one). skopeo reads
    // oci:DIR:latest and oci:DIR:1.0: a bare ref.name is a tag, never a repository.
    entry: 'stereoscope-valid_oci_dir',
    from: 'interop',
    what: 'OCI dir, bare tags latest and 1.0',
    good: true,
    skopeo: ['oci:{p}:latest', 'oci:{p}:1.0'],
    ls: lists({ tag: 'latest', platforms: ['linux/amd64'] }, { tag: '1.0', platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64'] },
    extract: { ref: 'example.com/x@{digest}', like: 'oci:{p}:latest' },
    pull: [{ src: 'oci:{p}:1.0', code: [0, 2], like: 'oci:{p}:1.0', notNamed: ['1.0'] }],
    bundle: { src: 'oci:{p}:1.0', code: [0, 2] },
  },
  {
    // Bare tag "0.0.1". skopeo reads oci:DIR (one image) and oci:DIR:0.0.1. Pulled by its tag it needs a name
    // from the user (exit 2) or goes out unnamed, but is never named "docker.io/library/0.0.1:latest".
    entry: 'trivy-test_image_tag.oci',
    from: 'interop',
    what: 'OCI dir, bare tag 0.0.1',
    good: true,
    skopeo: ['oci:{p}'],
    ls: lists({ tag: '0.0.1', platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64'] },
    extract: { ref: 'example.com/x@{digest}', like: 'oci:{p}' },
    pull: [
      { src: 'oci:{p}:0.0.1', code: [0, 2], like: 'oci:{p}', notNamed: ['0.0.1'] },
      { src: 'oci:{p}:example.com/app:0.0.1', like: 'oci:{p}', named: ['example.com/app:0.0.1'] },
    ],
    bundle: { src: 'oci:{p}:example.com/app:0.0.1' },
  },
  {
    // Seven bare-tag references; 1.0.0's manifest records its config as 585 bytes, the blob has 584: skopeo
    // copy oci:DIR:1.0.0 fails "Size mismatch when copying sha256:913cf3a3…, expected 585, got 584". The
    // other references copy.
    entry: 'cimage-layout-delete_image_multiple_images',
    from: 'interop',
    what: 'OCI dir, 7 bare tags, nested indexes; one config size wrong',
    good: false,
    skopeo: ['oci:{p}:latest', 'oci:{p}:3.18', 'oci:{p}:3.17.5', 'oci:{p}:3.16.7', 'oci:{p}:1.0.0'],
    ls: lists(
      { tag: 'latest', platforms: ['linux/amd64', 'linux/386'] },
      { tag: '3.18.3' },
      { tag: '3' },
      { tag: '3.18', platforms: ['linux/amd64'] },
      { tag: '3.17.5' },
      { tag: '3.16.7', platforms: ['linux/amd64', 'linux/386'] },
      { tag: '1.0.0' },
    ),
    verify: refused(4, /913cf3a39d377faf89ed388ad913a318a390488c9f34c46e43424795cdabffe8/),
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64', 'linux/386'] },
    extract: { ref: 'example.com/x@sha256:913cf3a39d377faf89ed388ad913a318a390488c9f34c46e43424795cdabffe8', code: [3, 4] },
    pull: [
      { src: 'oci:{p}:3.18', code: [0, 2], like: 'oci:{p}:3.18', notNamed: ['3.18'] },
      { src: 'oci:{p}:1.0.0', code: 4, message: /913cf3a3/ },
    ],
    bundle: { src: 'oci:{p}:1.0.0', code: 4, message: /913cf3a3/ },
  },
  {
    // Its manifest records the config as 585 bytes; the blob has 740. skopeo inspects it but its copy fails
    // "Size mismatch when copying sha256:a5271791…, expected 585, got 740".
    entry: 'cimage-layout-delete_image_only_one_image',
    from: 'interop',
    what: 'OCI dir, config size wrong',
    good: false,
    skopeo: ['oci:{p}'],
    ls: lists({ tag: 'latest', platforms: ['linux/amd64'] }),
    verify: refused(4, /a527179158cd5cebc11c152b8637b47ce96c838ba2aa0de66d14f45cedc11423/),
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64'] },
    extract: { ref: 'example.com/x@{digest}', code: 4, message: /a527179158cd|config.*740/ },
    pull: [{ src: 'oci:{p}:latest', code: 4, message: /a527179158cd|config.*740/ }],
    bundle: { src: 'oci:{p}:latest', code: 4, message: /a527179158cd|config.*740/ },
  },
  {
    // Manifest and config live in shared_blobs/ (skopeo's --src-shared-blob-dir); without that option skopeo
    // fails "open …/blobs/sha256/eaa95f3c…: no such file or directory". airpack has no such option.
    entry: 'cimage-layout-delete_image_shared_blobs_dir',
    from: 'interop',
    what: 'OCI dir, blobs in shared_blobs/',
    good: false,
    ls: lsNoCrash,
    verify: refused(4, /eaa95f3cfaac07c8a5153eb77c933269586ad0226c83405776be08547e4d2a18/),
    // find answers from index.json (metadata, milliseconds): it names the image, with no platform it can
    // deliver (the manifest is not under blobs/); verify, extract, pull and bundle refuse it.
    find: { ref: 'example.com/x@sha256:eaa95f3cfaac07c8a5153eb77c933269586ad0226c83405776be08547e4d2a18', platforms: [] },
    extract: { ref: 'example.com/x@sha256:eaa95f3cfaac07c8a5153eb77c933269586ad0226c83405776be08547e4d2a18', code: 4, message: /eaa95f3cfaac|manifests are not in the archive/ },
    bundle: { src: 'oci:{p}:latest', code: 4, message: /eaa95f3cfaac/ },
    pull: [{ src: 'oci:{p}:latest', code: 4, message: /eaa95f3cfaac/ }],
  },
  {
    // Two index entries, both ref.name "1.0.0", different images. skopeo's oci:DIR:1.0.0 takes the first
    // (sha256:49d15844…) and copies it.
    entry: 'cimage-layout-delete_image_two_identical_references',
    from: 'interop',
    what: 'OCI dir, two images under the same bare tag',
    good: true,
    skopeo: ['oci:{p}:1.0.0'],
    ls: lists(
      { tag: '1.0.0', digest: 'sha256:49d1584496c6e196f512c4a9f52b17b187642269d84c044538523c5b69a660b3', platforms: ['linux/amd64'] },
      { tag: '1.0.0', digest: 'sha256:ecfa463536cb5472e238aadc4df81d4785d5d6373027c488a2db8a6e76fe88ed', platforms: ['linux/amd64'] },
    ),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64'] },
    // Its "gzip" layers are 33 bytes of text: pull copies them as they are (skopeo too), but a bundle stores
    // layers uncompressed, and these cannot be decompressed. Their trailers predict 171 MB, so the bundle's
    // cost probe reads them too; whichever read fails first names the layer: "cannot be decompressed", or,
    // the probe first, the size is not the predicted one and the store path finds the digest is not the diff_id.
    bundle: {
      src: 'oci:{p}:example.com/x@sha256:ecfa463536cb5472e238aadc4df81d4785d5d6373027c488a2db8a6e76fe88ed',
      code: 4,
      message: /layer sha256:fa00bb4e\S+ of \S+(: cannot be decompressed| \(uncompressed\): digest sha256:fa00bb4e\S+ \[expected sha256:03901b4a)/,
    },
    extract: { ref: 'example.com/x@{digest}', like: 'oci:{p}:1.0.0' },
    pull: [{ src: 'oci:{p}:1.0.0', code: [0, 2], like: 'oci:{p}:1.0.0', notNamed: ['1.0.0'] }],
  },
  {
    // No blobs at all; the one entry has media type application/vnd.oci.descriptor.v1+json. skopeo: "open
    // …/blobs/sha256/32589985…: no such file or directory".
    entry: 'ggcr-layout-test_gc_image_unknown_mediatype',
    from: 'interop',
    what: 'broken: OCI dir, no blobs, unknown media type',
    good: false,
    ls: lsNoCrash,
    verify: refused(4, /32589985702551b6c56033bb3334432a0a513bf9d6aceda0f67c42b003850720/),
    find: { ref: 'example.com/x@sha256:32589985702551b6c56033bb3334432a0a513bf9d6aceda0f67c42b003850720', platforms: [] },
    extract: { ref: 'example.com/x@sha256:32589985702551b6c56033bb3334432a0a513bf9d6aceda0f67c42b003850720', code: 4, message: /32589985|manifests are not in the archive/ },
    bundle: { src: 'oci:{p}:example.com/x:1', code: 4, message: /32589985|media type/i },
    pull: [{ src: 'oci:{p}:example.com/x:1', code: 4, message: /32589985|media type/i }],
  },
  {
    // Tags 1 (a manifest), 3 (an OCI index) and 4 (a docker manifest list), all with the same image; an
    // unreferenced blob. skopeo reads 1 and 3; for 4 skopeo 1.9 says "no descriptor found for reference 4"
    // (it skips docker media types in index.json); go-containerregistry, which wrote it, reads all three.
    entry: 'ggcr-layout-test_gc_index',
    from: 'interop',
    what: 'OCI dir, manifest + OCI index + docker list',
    good: true,
    skopeo: ['oci:{p}:1', 'oci:{p}:3'],
    ls: lists({ tag: '1', platforms: ['linux/amd64'] }, { tag: '3', platforms: ['linux/amd64'] }, { tag: '4', platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64'] },
    extract: { ref: 'example.com/x@{digest}', like: 'oci:{p}:1' },
    pull: [
      { src: 'oci:{p}:1', code: [0, 2], like: 'oci:{p}:1', notNamed: ['1'] },
      { src: 'oci:{p}:example.com/x@sha256:2b29a2b8dea3af91ea7d0154be1da0c92d55ddd098540930fc8d3db7de377fdb', like: 'oci:{p}:3' },
    ],
    bundle: { src: 'oci:{p}:example.com/x@sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5' },
  },
  {
    // As test_gc_index, plus tag 2 with media type application/vnd.oci.descriptor.v1+json (skopeo: no
    // descriptor found). All blobs are there and hash right.
    entry: 'ggcr-layout-test_index',
    from: 'interop',
    what: 'OCI dir, manifest + index + docker list + unknown-type entry',
    good: true,
    skopeo: ['oci:{p}:1', 'oci:{p}:3'],
    ls: lists({ tag: '1', platforms: ['linux/amd64'] }, { tag: '3', platforms: ['linux/amd64'] }, { tag: '4', platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64'] },
    extract: { ref: 'example.com/x@{digest}', like: 'oci:{p}:1' },
    bundle: { src: 'oci:{p}:example.com/x@sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5' },
    pull: [{ src: 'oci:{p}:example.com/x@sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5', like: 'oci:{p}:3' }],
  },
  {
    // A helm chart artifact (config application/vnd.cncf.helm.config.v1+json). skopeo copies it; its inspect
    // says "unsupported image-specific operation on artifact".
    entry: 'ggcr-layout-test_index_media_type',
    from: 'interop',
    what: 'OCI dir, helm chart artifact',
    good: true,
    skopeo: ['oci:{p}'],
    ls: lists({ noPlatform: true }),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: [] },
    extract: { ref: 'example.com/x@{digest}', code: 3, message: ARTIFACT },
    bundle: { src: 'oci:{p}:example.com/chart:1', code: 3, message: ARTIFACT, notMessage: NOT_SLASH },
    pull: [{ src: 'oci:{p}:example.com/chart:1', code: 3, message: ARTIFACT, notMessage: NOT_SLASH }],
  },
  {
    entry: 'ggcr-layout-test_index_one_image',
    from: 'interop',
    what: 'OCI dir, one unnamed image',
    good: true,
    skopeo: ['oci:{p}'],
    ls: lists({ unnamed: true, platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64'] },
    extract: { ref: 'example.com/x@{digest}', like: 'oci:{p}' },
    pull: [
      { src: 'oci:{p}', code: 2, message: /name/i },
      { src: 'oci:{p}:example.com/one:1', like: 'oci:{p}', named: ['example.com/one:1'] },
    ],
    bundle: { src: 'oci:{p}:example.com/one:1' },
  },
  {
    entry: 'imgutil-busybox',
    from: 'interop',
    what: 'OCI dir, docker manifest, unnamed',
    good: true,
    skopeo: ['oci:{p}'],
    ls: lists({ unnamed: true, platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64'] },
    extract: { ref: 'example.com/x@{digest}', like: 'oci:{p}' },
    pull: [{ src: 'oci:{p}:example.com/busybox:1', like: 'oci:{p}', named: ['example.com/busybox:1'] }],
    bundle: { src: 'oci:{p}:example.com/busybox:1' },
  },
  {
    // index.json only (two platforms), no blobs directory: skopeo has nothing to read.
    entry: 'imgutil-busybox-multi-platform',
    from: 'interop',
    what: 'broken: OCI dir, index only, no blobs',
    good: false,
    ls: lsNoCrash,
    verify: refused(4, /f5b920213fc6498c0c5eaee7e04f8424202b565bb9e5e4de9e617719fb7bd873/),
    // As index.json describes them (find reads no further); os.version shown after the platform.
    find: { ref: 'example.com/x@sha256:f5b920213fc6498c0c5eaee7e04f8424202b565bb9e5e4de9e617719fb7bd873', platforms: ['linux/amd64:4.5.6'] },
    extract: { ref: 'example.com/x@sha256:f5b920213fc6498c0c5eaee7e04f8424202b565bb9e5e4de9e617719fb7bd873', code: 4, message: /f5b92021/ },
    bundle: { src: 'oci:{p}:example.com/bb@sha256:f5b920213fc6498c0c5eaee7e04f8424202b565bb9e5e4de9e617719fb7bd873', code: 4, message: /f5b92021/ },
    pull: [{ src: 'oci:{p}:example.com/bb@sha256:f5b920213fc6498c0c5eaee7e04f8424202b565bb9e5e4de9e617719fb7bd873', code: 4, message: /f5b92021/ }],
  },
  {
    // The layer blob is missing: skopeo inspects it, its copy fails "open …/405fecb6…: no such file". A blob
    // missing from a local archive is damage (4), not "could not be fetched from any source" (3).
    entry: 'imgutil-busybox-sparse',
    from: 'interop',
    what: 'broken: OCI dir, layer blob missing',
    good: false,
    skopeo: ['oci:{p}'],
    ls: lists({ platforms: ['linux/amd64'] }),
    verify: refused(4, /405fecb6a2fa4f29683f977e7e3b852bf6f8975a2aba647d234d2371894943da/),
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64'] },
    extract: { ref: 'example.com/x@{digest}', code: 4, message: /405fecb6/ },
    bundle: { src: 'oci:{p}:example.com/bb:1', code: 4, message: /405fecb6/ },
    pull: [{ src: 'oci:{p}:example.com/bb:1', code: 4, message: /405fecb6/ }],
  },
  {
    entry: 'imgutil-index-with-docker-media-type',
    from: 'interop',
    what: 'broken: index.json only (docker list media type), manifest missing',
    good: false,
    ls: lsNoCrash,
    verify: refused(4, /a564fd8f0684d2e119b73db7fb89280a665ebb18e8c30f26d163b4c0da8a8090/),
    // Its platform has architecture "": no platform, never "linux/".
    find: { ref: 'example.com/x@sha256:a564fd8f0684d2e119b73db7fb89280a665ebb18e8c30f26d163b4c0da8a8090', platforms: [] },
    extract: { ref: 'example.com/x@sha256:a564fd8f0684d2e119b73db7fb89280a665ebb18e8c30f26d163b4c0da8a8090', code: 4, message: /a564fd8f/ },
    bundle: { src: 'oci:{p}:example.com/bb:1', code: 4, message: /a564fd8f/ },
    pull: [{ src: 'oci:{p}:example.com/bb:1', code: 4, message: /a564fd8f/ }],
  },
  {
    // A docker v2s2 manifest whose layer has the OCI media type, and a config with os "" and architecture "".
    // skopeo inspect --raw reads it, but its inspect and copy refuse: 'unsupported docker v2s2 media type:
    // "application/vnd.oci.image.layer.v1.tar+gzip"'. Taking skopeo's side: a malformed manifest (verify 4,
    // naming the media type), and no platform to show (not "/").
    entry: 'imgutil-my-previous-image',
    from: 'interop',
    what: 'OCI dir, docker manifest with an OCI layer type, empty platform',
    // Every byte is what its digest says (verify passes, with a warning): its corrupted copy must fail.
    good: true,
    skopeo: ['oci:{p}'],
    ls: lists({ unnamed: true, noPlatform: true }),
    // skopeo refuses this manifest ("unsupported docker v2s2 media type"); containerd and
    // distribution take it. Every byte is what its digest says, so verify passes and warns.
    verify: { code: 0, message: /application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip/ },
    find: { ref: 'example.com/x@{digest}', platforms: [] },
    // extract takes the image as it is (all its platforms, here one it cannot name); pull and bundle pick
    // a platform (linux/amd64 by default), which this image does not say it is.
    extract: { ref: 'example.com/x@{digest}' },
    bundle: { src: 'oci:{p}:example.com/prev:1', code: [3, 4], message: /platform|media type/i, notMessage: NOT_SLASH },
    pull: [{ src: 'oci:{p}:example.com/prev:1', code: [3, 4], message: /platform|media type/i, notMessage: NOT_SLASH }],
  },
  {
    // A containerd-style layout with a manifest.json too (RepoTags null): one image, not two.
    entry: 'notation-oci-layout',
    from: 'interop',
    what: 'OCI dir + manifest.json, containerd name',
    good: true,
    skopeo: ['oci:{p}'],
    ls: { code: 0, count: 1, images: [{ names: ['docker.io/library/alpine:v2'], platforms: ['linux/amd64'] }] },
    verify: intact,
    find: { ref: 'alpine:v2', platforms: ['linux/amd64'], alsoFromParent: true },
    extract: { ref: 'alpine:v2', like: 'oci:{p}' },
    pull: [{ src: 'oci:{p}', like: 'oci:{p}' }],
    bundle: { src: 'oci:{p}' },
  },
  {
    // Artifacts and referrers beside one image index (tag multi: amd64, arm64, arm/v7). skopeo copies every
    // tag; it inspects multi and config. The images' configs have no rootfs (see NO_ROOTFS).
    entry: 'oras-zot-artifacts',
    from: 'interop',
    what: 'OCI dir, artifacts + referrers + an image index',
    good: true,
    skopeo: ['oci:{p}:multi', 'oci:{p}:foobar', 'oci:{p}:config'],
    ls: lists({ tag: 'multi', platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'] }, { tag: 'foobar', noPlatform: true }),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'] },
    extract: { ref: 'example.com/x@{digest}', code: 4, message: NO_ROOTFS },
    pull: [
      { src: 'oci:{p}:multi', code: [2, 4], message: /name|rootfs|diff_ids/i },
      { src: 'oci:{p}:foobar', code: 3, message: ARTIFACT, notMessage: NOT_SLASH },
    ],
    bundle: { src: 'oci:{p}:example.com/x@sha256:e2bfc9cc6a84ec2d7365b5a28c6bc5806b7fa581c9ad7883be955a64e3cc034f', code: 4, message: NO_ROOTFS },
  },
  {
    // Images per platform, an index over them, an empty index, and two artifacts; nonjson-config's config is
    // 9 bytes of non-JSON (media type application/vnd.unknown.config.v1+json). skopeo copies
    // oci:DIR:nonjson-config: an artifact's config need not be JSON, so verify passes. The "images" have
    // configs without rootfs (see NO_ROOTFS).
    entry: 'oras-zot-images',
    from: 'interop',
    what: 'OCI dir, images + non-JSON-config artifact + empty index',
    good: true,
    skopeo: ['oci:{p}:multi', 'oci:{p}:linux-amd64', 'oci:{p}:linux-arm64', 'oci:{p}:nonjson-config'],
    ls: lists(
      { tag: 'multi', platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'] },
      { tag: 'linux-amd64', platforms: ['linux/amd64'] },
      { tag: 'linux-arm64', platforms: ['linux/arm64'] },
      { tag: 'linux-armv7', platforms: ['linux/arm/v7'] },
      { tag: 'empty_index' },
      { tag: 'nonjson-config', noPlatform: true },
    ),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'] },
    extract: { ref: 'example.com/x@{digest}', code: 4, message: NO_ROOTFS },
    pull: [
      { src: 'oci:{p}:example.com/x@sha256:9d84a5716c66a1d1b9c13f8ed157ba7d1edfe7f9b8766728b8a1f25c0d9c14c1', code: 4, message: NO_ROOTFS },
      { src: 'oci:{p}:nonjson-config', code: 3, message: ARTIFACT, notMessage: NOT_SLASH },
    ],
    bundle: { src: 'oci:{p}:example.com/x@sha256:e2bfc9cc6a84ec2d7365b5a28c6bc5806b7fa581c9ad7883be955a64e3cc034f', code: 4, message: NO_ROOTFS },
  },
  {
    // Referrers (artifacts with empty configs) only. skopeo copies each.
    entry: 'regclient-external',
    from: 'interop',
    what: 'OCI dir, referrer artifacts',
    good: true,
    skopeo: ['oci:{p}:a3', 'oci:{p}:a4'],
    ls: lists({ tag: 'a3', noPlatform: true }, { tag: 'a4', noPlatform: true }),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: [] },
    extract: { ref: 'example.com/x@{digest}', code: 3, message: ARTIFACT },
    bundle: { src: 'oci:{p}:a3', code: 3, message: ARTIFACT, notMessage: NOT_SLASH },
    pull: [{ src: 'oci:{p}:a3', code: 3, message: ARTIFACT, notMessage: NOT_SLASH }],
  },
  {
    // 26 references: multi-platform indexes, docker and OCI manifests, referrers, a "loop". skopeo copies all
    // but one (a nested index, a skopeo 1.9 limit).
    entry: 'regclient-testrepo',
    from: 'interop',
    what: 'OCI dir, indexes, referrers, digest tags',
    good: true,
    skopeo: ['oci:{p}:v1', 'oci:{p}:v2', 'oci:{p}:v3', 'oci:{p}:b1'],
    ls: lists({ tag: 'v1', platforms: ['linux/amd64', 'linux/arm64'] }, { tag: 'b1' }, { tag: 'loop' }),
    verify: intact,
    find: { ref: 'example.com/x@{digest}', platforms: ['linux/amd64', 'linux/arm64'] },
    extract: { ref: 'example.com/x@{digest}', like: 'oci:{p}:v1' },
    pull: [{ src: 'oci:{p}:v1', code: [0, 2], like: 'oci:{p}:v1', notNamed: ['v1'] }],
    bundle: { src: 'oci:{p}:example.com/x@sha256:7ceb9b6bcc274697d0c38be6214b50cec79d601bc61708747d3f6cb772f6c6fa' },
  },

  // --- not image archives
  {
    entry: 'ggcr-tarball-no_manifest.tar',
    from: 'interop',
    what: 'broken: no manifest.json or index.json (only repositories)',
    good: false,
    ls: refused(4, /manifest\.json|not an image archive/),
    verify: refused(4, /manifest\.json|not an image archive/),
    // Not an image archive: find skips it without calling it broken (exit 1, not 4).
    find: { ref: 'bazel/v1/tarball:test_image_1', code: 1 },
    extract: { ref: 'bazel/v1/tarball:test_image_1', code: 4, message: /manifest\.json|not an image archive/ },
    pull: [{ src: 'docker-archive:{p}', code: 4, message: /manifest\.json/ }],
    bundle: { src: 'docker-archive:{p}', code: 4 },
  },
  {
    // manifest.json is the JSON value null. skopeo: "Unexpected tar manifest.json: expected 1 item, got 0". It
    // is valid JSON; the problem to name is that it is null, not a list.
    entry: 'ggcr-tarball-null_manifest.tar',
    from: 'interop',
    what: 'broken: manifest.json is null',
    good: false,
    ls: refused(4, /manifest\.json/),
    verify: refused(4, /manifest\.json.*(null|array|list)/),
    // A broken archive: find names it and exits 4 (none found, a file could not be read).
    find: { ref: 'bazel/v1/tarball:test_image_1', code: 4 },
    extract: { ref: 'bazel/v1/tarball:test_image_1', code: 4, message: /manifest\.json/ },
    bundle: { src: 'docker-archive:{p}', code: 4, message: /manifest\.json/ },
    pull: [{ src: 'docker-archive:{p}', code: 4, message: /manifest\.json/ }],
  },
  {
    // A registry's storage directory (docker/registry/v2/...), gzipped: not an image archive. skopeo refuses it.
    entry: 'oras-mount-images.tar.gz',
    from: 'interop',
    what: 'not an image archive (registry storage, gzip)',
    good: false,
    ls: refused(4, /manifest\.json|not an image archive/),
    verify: refused(4, /manifest\.json|not an image archive/),
    extract: { ref: 'command/images:foobar', code: 4, message: /manifest\.json|not an image archive/ },
    find: { ref: 'command/images:foobar', code: 1 },
    pull: [{ src: 'docker-archive:{p}', code: 4 }],
    bundle: { src: 'docker-archive:{p}', code: 4 },
  },

  // --- made here with the real tools (test/support/interop.ts, from the fixtures in a loopback registry)
  {
    entry: 'skopeo-tags.tar',
    from: 'real',
    what: 'skopeo copy docker-archive: with 2 --additional-tag',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: { code: 0, count: 1, images: [{ names: ['example.com/app:1', 'example.com/app:latest', 'other.io/x/app:v1'], platforms: ['linux/amd64'] }] },
    verify: intact,
    find: { ref: 'other.io/x/app:v1', platforms: ['linux/amd64'] },
    extract: { ref: 'other.io/x/app:v1', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}:example.com/app:latest', like: 'docker-archive:{p}', named: ['example.com/app:latest'] }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    entry: 'skopeo-digest.tar',
    from: 'real',
    what: 'skopeo copy docker://…@sha256 docker-archive: (untagged)',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ unnamed: true, platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'example.com/x@{config}', platforms: ['linux/amd64'] },
    extract: { ref: 'example.com/x@{config}', like: 'docker-archive:{p}' },
    pull: [
      { src: 'docker-archive:{p}', code: 2, message: /name/i },
      { src: 'docker-archive:{p}:example.com/app:2', like: 'docker-archive:{p}', named: ['example.com/app:2'] },
    ],
    bundle: { src: 'docker-archive:{p}:example.com/app:2' },
  },
  {
    entry: 'skopeo-zstd-oci',
    from: 'real',
    what: 'skopeo copy --dest-compress-format zstd to oci: (zstd layers)',
    good: true,
    skopeo: ['oci:{p}:app:1', 'oci:{p}:multi:1.0'],
    ls: lists({ names: ['docker.io/library/app:1'], platforms: ['linux/amd64'] }, { names: ['docker.io/library/multi:1.0'], platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'] }),
    verify: intact,
    find: { ref: 'app:1', platforms: ['linux/amd64'] },
    extract: { ref: 'app:1', like: 'oci:{p}:app:1' },
    pull: [{ src: 'oci:{p}:app:1', like: 'oci:{p}:app:1' }],
    // bundle stores uncompressed layers by default: the zstd layers must be decompressed.
    bundle: { src: 'oci:{p}:app:1' },
  },
  {
    entry: 'podman-multi.tar',
    from: 'real',
    what: 'podman save --multi-image-archive (2 images)',
    good: true,
    skopeo: ['docker-archive:{p}:@0', 'docker-archive:{p}:@1'],
    ls: { code: 0, count: 2, images: [{ names: ['{host}/library/single:latest'] }, { names: ['{host}/library/shared-a:1'], platforms: ['linux/amd64'] }] },
    verify: intact,
    find: { ref: '{host}/library/shared-a:1', platforms: ['linux/amd64'] },
    extract: { ref: '{host}/library/shared-a:1', like: 'docker-archive:{p}:@1' },
    pull: [
      { src: 'docker-archive:{p}:@1', like: 'docker-archive:{p}:@1' },
      { src: 'docker-archive:{p}:{host}/library/shared-a:1', like: 'docker-archive:{p}:@1', named: ['{host}/library/shared-a:1'] },
    ],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    entry: 'podman-oci.tar',
    from: 'real',
    what: 'podman save --format oci-archive',
    good: true,
    skopeo: ['oci-archive:{p}'],
    ls: lists({ names: ['{host}/library/single:latest'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: '{host}/library/single:latest', platforms: ['linux/amd64'] },
    extract: { ref: '{host}/library/single:latest', like: 'oci-archive:{p}' },
    pull: [{ src: 'oci-archive:{p}', like: 'oci-archive:{p}' }],
    bundle: { src: 'oci-archive:{p}' },
  },
  {
    entry: 'ctr-one.tar',
    from: 'real',
    what: 'ctr images export, one image',
    good: true,
    skopeo: ['oci-archive:{p}', 'docker-archive:{p}'],
    ls: { code: 0, count: 1, images: [{ names: ['{host}/library/single:latest'], tag: 'latest', platforms: ['linux/amd64'] }] },
    verify: intact,
    find: { ref: '{host}/library/single:latest', platforms: ['linux/amd64'] },
    extract: { ref: '{host}/library/single:latest', like: 'oci-archive:{p}' },
    pull: [{ src: 'oci-archive:{p}', like: 'oci-archive:{p}' }],
    bundle: { src: 'oci-archive:{p}' },
  },
  {
    // ctr writes ref.name as the bare tag ("latest", "1") beside io.containerd.image.name; skopeo picks an image
    // by that bare tag (oci-archive:PATH:1), so airpack must too, keeping the image's own name.
    entry: 'ctr-two.tar',
    from: 'real',
    what: 'ctr images export, two images',
    good: true,
    skopeo: ['oci-archive:{p}:latest', 'oci-archive:{p}:1', 'docker-archive:{p}:@1'],
    ls: { code: 0, count: 2, images: [{ names: ['{host}/library/single:latest'] }, { names: ['{host}/library/shared-a:1'], tag: '1', platforms: ['linux/amd64'] }] },
    verify: intact,
    find: { ref: '{host}/library/shared-a:1', platforms: ['linux/amd64'] },
    extract: { ref: '{host}/library/shared-a:1', like: 'oci-archive:{p}:1' },
    pull: [
      { src: 'oci-archive:{p}:1', like: 'oci-archive:{p}:1', named: ['{host}/library/shared-a:1'] },
      { src: 'oci-archive:{p}:{host}/library/shared-a:1', like: 'oci-archive:{p}:1' },
    ],
    bundle: { src: 'oci-archive:{p}' },
  },
  {
    // The whole index with every platform's blobs and the attestations; manifest.json lists only the host
    // platform's image (that is what ctr writes). skopeo reads both views and copies --all.
    entry: 'ctr-multi-all.tar',
    from: 'real',
    what: 'ctr images export --all-platforms, multi-arch + attestations',
    good: true,
    skopeo: ['oci-archive:{p}', 'docker-archive:{p}'],
    ls: lists({ names: ['{host}/library/multi:1.0'], platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'] }),
    verify: intact,
    find: { ref: '{host}/library/multi:1.0', platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'] },
    extract: { ref: '{host}/library/multi:1.0', platform: 'linux/arm64', like: 'oci-archive:{p}' },
    pull: [{ src: 'oci-archive:{p}', platform: 'linux/arm64', like: 'oci-archive:{p}', likeArch: 'arm64' }],
    bundle: { src: 'oci-archive:{p}', platform: 'linux/arm/v7' },
  },
  {
    // ctr pulled only the host platform of a docker manifest list, and exports the whole list with one
    // platform's blobs (a sparse index, as oras-hello-world.tar). skopeo copies it; --override-arch arm64 fails.
    entry: 'ctr-dockerlist-host.tar',
    from: 'real',
    what: 'ctr images export of a list pulled for the host only (sparse)',
    good: true,
    skopeo: ['oci-archive:{p}', 'docker-archive:{p}'],
    ls: lists({ names: ['{host}/library/dockerlist:2.0'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: '{host}/library/dockerlist:2.0', platforms: ['linux/amd64'] },
    extract: { ref: '{host}/library/dockerlist:2.0', like: 'oci-archive:{p}' },
    pull: [{ src: 'oci-archive:{p}', like: 'oci-archive:{p}' }],
    bundle: { src: 'oci-archive:{p}' },
  },

  // --- derived from interop entries here, in shapes other tools write
  {
    // crane pull (go-containerregistry tarball.Write): config stored as "sha256:<hex>", layers "<hex>.tar.gz".
    entry: 'crane.tar',
    from: 'derived',
    what: 'crane-style tarball (config named sha256:<hex>)',
    good: true,
    skopeo: ['docker-archive:{p}'],
    ls: lists({ names: ['example.com/crane/img:v1'], platforms: ['linux/amd64'] }),
    verify: intact,
    find: { ref: 'example.com/crane/img:v1', platforms: ['linux/amd64'] },
    extract: { ref: 'example.com/crane/img:v1', like: 'docker-archive:{p}' },
    pull: [{ src: 'docker-archive:{p}', like: 'docker-archive:{p}' }],
    bundle: { src: 'docker-archive:{p}' },
  },
  {
    // stereoscope-multiplatform_oci_dir tarred with `tar -C dir -cf x.tar .`: every name starts with "./".
    entry: 'stereoscope-multiplatform-dot.tar',
    from: 'derived',
    what: 'OCI layout tarred with tar -C dir -cf x.tar . (./ names)',
    good: true,
    skopeo: ['oci-archive:{p}'],
    ls: lists({ names: ['docker.io/library/multi-platform:latest'], platforms: ['linux/amd64', 'linux/arm64'] }),
    verify: intact,
    find: { ref: 'multi-platform:latest', platforms: ['linux/amd64', 'linux/arm64'] },
    extract: { ref: 'multi-platform:latest', like: 'oci-archive:{p}' },
    pull: [{ src: 'oci-archive:{p}', platform: 'linux/arm64', like: 'oci-archive:{p}', likeArch: 'arm64' }],
    bundle: { src: 'oci-archive:{p}' },
  },
];

// ---------------------------------------------------------------------------
// Running it

// Checks mostly wait on child processes, which runTool caps: let more of them queue.
vi.setConfig({ maxConcurrency: 8 });

let scratch: string;
let real: RealToolArchives;
/** The registry push goes to. */
let site: RegistryHandle;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'airpack-interop-'));
  const made = join(scratch, 'made');
  real = await makeRealToolArchives(made);
  site = await startRegistry();
  await makeCraneTarball(join(made, 'crane.tar'));
  await tarDotPrefixed(join(INTEROP_DIR, 'stereoscope-multiplatform_oci_dir'), join(made, 'stereoscope-multiplatform-dot.tar'));
}, 120_000);

afterAll(async () => {
  await site?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const pathOf = (row: Row): string => (row.from === 'interop' ? join(INTEROP_DIR, row.entry) : join(real.dir, row.entry));
const fill = (row: Row, s: string, p = pathOf(row)): string => s.replaceAll('{p}', p).replaceAll('{host}', real?.host ?? '{host}');
const codes = (c: Code | undefined): readonly number[] => (c === undefined ? [0] : typeof c === 'number' ? [c] : c);

let seq = 0;
async function tmp(): Promise<string> {
  return mkdtemp(join(scratch, `t${seq++}-`));
}

/** A ref with `{digest}` and `{config}` filled in from what skopeo reads of the row (see Row.find). */
async function withDigests(row: Row, ref: string): Promise<string> {
  let out = fill(row, ref);
  if (!out.includes('{digest}') && !out.includes('{config}')) return out;
  const sk = await skopeoRef(row, row.skopeo![0]!);
  out = out.replace('{digest}', sk.digest);
  if (out.includes('{config}')) out = out.replace('{config}', sk.raw.config!.digest);
  return out;
}

/** The regular files under a directory, as relative paths (what a tar of it holds besides directories). */
async function filesUnder(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    const name = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, name)));
    else out.push(name);
  }
  return out;
}

/** What ls --json says of the images, without the file's own facts (path, size, compression). */
function imagesOf(stdout: string): unknown {
  return (JSON.parse(stdout) as Array<{ images: LsImage[] }>)[0]?.images.map((i) => ({ names: i.names, digest: i.digest, platforms: i.platforms }));
}

/** Checks that hold for every airpack run, whatever the row. */
function sane(what: string, r: { code: number; stderr: string }): void {
  expect(r.code, `${what}: exit 70 is an internal error\n${r.stderr}`).not.toBe(70);
  expect(r.stderr, `${what}: stack trace`).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(r.stderr, `${what}: EISDIR`).not.toMatch(/EISDIR/);
}

function expectCode(what: string, r: { code: number; stdout: string; stderr: string }, want: Code | undefined): void {
  sane(what, r);
  expect(codes(want), `${what}: exit ${r.code}\n${r.stderr.trim() || r.stdout.trim().slice(0, 800)}`).toContain(r.code);
}

// --- skopeo, memoised per ref

interface SkopeoView {
  /** sha256 of `skopeo inspect --raw` (the manifest or index skopeo resolves). */
  digest: string;
  raw: { mediaType?: string; config?: { digest: string }; layers?: Array<{ digest: string }>; manifests?: Array<{ digest: string }> };
  /** `skopeo inspect` of the instance skopeo picks (fails for artifacts). */
  inspect?: { Architecture?: string; Os?: string; Variant?: string; Layers?: string[] };
  /** sha256 of `skopeo inspect --raw --config` (that instance's config). */
  config?: string;
}

const skopeoCache = new Map<string, Promise<SkopeoView>>();

function skopeoView(ref: string, arch?: string): Promise<SkopeoView> {
  const key = `${arch ?? ''} ${ref}`;
  let v = skopeoCache.get(key);
  if (!v) {
    v = (async () => {
      const pre = arch ? ['--override-arch', arch] : [];
      const raw = await runTool('skopeo', [...pre, 'inspect', '--raw', ref]);
      if (raw.code !== 0) throw new Error(`the table is wrong: skopeo inspect --raw ${ref} failed: ${raw.stderr.trim()}`);
      const view: SkopeoView = { digest: sha256(raw.stdout), raw: JSON.parse(raw.stdout) as SkopeoView['raw'] };
      const [insp, cfg] = await Promise.all([runTool('skopeo', [...pre, 'inspect', ref]), runTool('skopeo', [...pre, 'inspect', '--raw', '--config', ref])]);
      if (insp.code === 0) view.inspect = JSON.parse(insp.stdout) as SkopeoView['inspect'];
      if (cfg.code === 0 && cfg.stdout.length > 0) view.config = sha256(cfg.stdout);
      return view;
    })();
    skopeoCache.set(key, v);
  }
  return v;
}

/** skopeo 1.9 reads no compressed docker-archive: skopeo gets a gunzipped copy of a .tar.gz. */
const plainCache = new Map<string, Promise<string>>();
function skopeoPath(row: Row): Promise<string> {
  const p = pathOf(row);
  let v = plainCache.get(p);
  if (!v) {
    v = p.endsWith('.gz') ? tmp().then((d) => plainTarOf(p, d)) : Promise.resolve(p);
    plainCache.set(p, v);
  }
  return v;
}

async function skopeoRef(row: Row, ref: string, arch?: string): Promise<SkopeoView> {
  return skopeoView(fill(row, ref, await skopeoPath(row)), arch);
}

/** os/arch[/variant] as airpack prints it (arm64/v8 is plain arm64). */
function platformOf(i: SkopeoView['inspect']): string | undefined {
  if (!i?.Os || !i.Architecture) return undefined;
  const variant = i.Variant && !(i.Architecture === 'arm64' && i.Variant === 'v8') ? `/${i.Variant}` : '';
  return `${i.Os}/${i.Architecture}${variant}`;
}

// --- airpack's view, memoised per row

interface LsImage {
  names: string[];
  repoTags?: string[];
  digest?: string;
  platforms: Array<{ platform?: string; manifestDigest?: string; configDigest?: string }>;
  [k: string]: unknown;
}

const lsCache = new Map<Row, Promise<{ res: Awaited<ReturnType<typeof airpack>>; images?: LsImage[] }>>();
function lsOf(row: Row) {
  let v = lsCache.get(row);
  if (!v) {
    v = (async () => {
      const res = await airpack(['ls', '--json', pathOf(row)]);
      let images: LsImage[] | undefined;
      if (res.code === 0) images = (JSON.parse(res.stdout) as Array<{ images: LsImage[] }>)[0]?.images;
      return { res, ...(images ? { images } : {}) };
    })();
    lsCache.set(row, v);
  }
  return v;
}

/** Every string in an ls image (names, repoTags, tags, annotations, whatever the field is called). */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) strings(x, out);
  return out;
}

/** `docker.io/library/<tag>:latest` and friends: a bare tag taken for a repository. */
const tagAsRepo = (tag: string) => new RegExp(`(^|/)${tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(:latest)?$`);

function matchesImage(img: LsImage, want: ImageExpect, row: Row): string | undefined {
  const names = img.names ?? [];
  const platforms = img.platforms.map((p) => p.platform).filter((p): p is string => typeof p === 'string');
  for (const n of want.names ?? []) if (!names.includes(fill(row, n))) return `no name ${fill(row, n)}`;
  if (want.unnamed && names.length > 0) return `named ${names.join(', ')}`;
  if (want.digest && img.digest !== want.digest && !img.platforms.some((p) => p.manifestDigest === want.digest)) return `digest ${img.digest}`;
  if (want.tag) {
    const t = want.tag;
    const shown = strings({ ...img, platforms: [] }).some((s) => s === t || s.endsWith(`:${t}`));
    if (!shown) return `tag ${t} not shown`;
    if (names.some((n) => tagAsRepo(t).test(n.replace(/:latest$/, '')))) return `tag ${t} taken for a repository: ${names.join(', ')}`;
  }
  for (const p of want.platforms ?? []) if (!platforms.includes(p)) return `no platform ${p} (has ${platforms.join(', ') || 'none'})`;
  if (want.noPlatform && img.platforms.some((p) => p.platform !== undefined)) return `platform ${img.platforms.map((p) => p.platform).join(', ')}`;
  return undefined;
}

// --- output archives

interface OutputView {
  names: string[];
  configs: string[];
}

const fullName = (n: string): string => {
  let name = n;
  const first = name.split('/')[0]!;
  if (!name.includes('/')) name = `docker.io/library/${name}`;
  else if (!/[.:]/.test(first) && first !== 'localhost') name = `docker.io/${name}`;
  if (!/[:@][^/]*$/.test(name.slice(name.lastIndexOf('/')))) name += ':latest';
  return name;
};

/** What an image archive airpack wrote holds, read by skopeo (each manifest.json item) and from its metadata. */
async function outputView(path: string): Promise<OutputView> {
  const tar = await readFile(path);
  const members = tarMembers(tar);
  const json = <T>(name: string): T | undefined => {
    const m = members.find((x) => x.name.replace(/^\.\//, '') === name);
    return m ? (JSON.parse(tar.toString('utf8', m.dataOffset, m.dataOffset + m.size)) as T) : undefined;
  };
  const docker = json<Array<{ RepoTags?: string[] | null }>>('manifest.json') ?? [];
  const index = json<{ manifests?: Array<{ annotations?: Record<string, string> }> }>('index.json');
  const names = [
    ...docker.flatMap((e) => (e.RepoTags ?? []).map(fullName)),
    ...(index?.manifests ?? []).flatMap((d) => {
      const a = d.annotations ?? {};
      return [a['io.containerd.image.name'], a['org.opencontainers.image.ref.name']].filter((x): x is string => !!x && /[/:]/.test(x)).map(fullName);
    }),
  ];
  const configs: string[] = [];
  for (let i = 0; i < docker.length; i++) {
    const r = await runTool('skopeo', ['inspect', '--raw', '--config', `docker-archive:${path}:@${i}`]);
    expect(r.code, `skopeo cannot read item ${i} of airpack's output ${path}: ${r.stderr}`).toBe(0);
    configs.push(sha256(r.stdout));
  }
  return { names: [...new Set(names)], configs };
}

async function checkOutput(row: Row, what: string, out: string, spec: { like?: string; likeArch?: string; named?: string[]; notNamed?: string[] }): Promise<void> {
  const view = await outputView(out);
  if (spec.like) {
    const src = await skopeoRef(row, spec.like, spec.likeArch);
    expect(src.config, `skopeo reads no config from ${spec.like}`).toBeDefined();
    expect(view.configs, `${what}: the output must hold the image skopeo reads from ${spec.like}${spec.likeArch ? ` (arch ${spec.likeArch})` : ''}`).toContain(src.config);
  }
  for (const n of spec.named ?? []) expect(view.names, `${what}: output names`).toContain(fullName(fill(row, n)));
  for (const t of spec.notNamed ?? []) {
    expect(view.names.filter((n) => tagAsRepo(t).test(n.replace(/:latest$/, ''))), `${what}: bare tag ${t} became a repository`).toEqual([]);
  }
}

// --- the loop

// One suite, every check concurrent (at most a few child processes run at once: see runTool).
describe.concurrent('interop', () => {
  for (const row of ROWS) {
    const it = (name: string, fn: () => Promise<void>) => vit(`${row.entry} › ${name}`, fn);
    it('ls', async () => {
      const { res, images } = await lsOf(row);
      expectCode('ls', res, row.ls.code);
      if (row.ls.message) expect(res.stderr).toMatch(row.ls.message);
      if (res.code !== 0 || !images) return;
      if (row.ls.count !== undefined) expect(images.length, 'images').toBe(row.ls.count);
      for (const want of row.ls.images ?? []) {
        const misses = images.map((img) => matchesImage(img, want, row));
        expect(misses.some((m) => m === undefined), `no image like ${JSON.stringify(want)}: ${misses.join('; ')}`).toBe(true);
      }
    });

    if (row.skopeo?.length) {
      it('agrees with skopeo', async () => {
        const { res, images } = await lsOf(row);
        expectCode('ls', res, 0);
        for (const ref of row.skopeo!) {
          const sk = await skopeoRef(row, ref);
          const docker = ref.startsWith('docker-archive:');
          // docker-archive: skopeo synthesises the manifest, so compare configs; OCI: the index.json digest.
          const hit = docker
            ? images!.find((i) => i.platforms.some((p) => p.configDigest === sk.raw.config?.digest))
            : images!.find((i) => i.digest === sk.digest || i.platforms.some((p) => p.manifestDigest === sk.digest));
          expect(hit, `${ref}: skopeo reads ${docker ? `config ${sk.raw.config?.digest}` : sk.digest}; ls has ${JSON.stringify(images!.map((i) => [i.names, i.digest, i.platforms.map((p) => p.configDigest)]))}`).toBeDefined();
          const platform = platformOf(sk.inspect);
          if (platform) expect(hit!.platforms.map((p) => p.platform), `${ref}: skopeo picks ${platform}`).toContain(platform);
        }
      });
    }

    it('verify', async () => {
      const res = await airpack(['verify', '--json', pathOf(row)]);
      expectCode('verify', res, row.verify.code);
      let result: { ok: boolean; blobs: number; blobBytes: number; problems: string[]; warnings?: string[] } | undefined;
      try {
        result = (JSON.parse(res.stdout) as Array<typeof result>)[0];
      } catch {
        result = undefined;
      }
      if (res.code === 0) {
        // Every byte is checked: an archive whose blobs were never hashed was not verified.
        expect(result?.blobs, 'blobs hashed').toBeGreaterThan(0);
        expect(result?.blobBytes, 'bytes hashed').toBeGreaterThan(0);
      }
      if (row.verify.message) expect([...(result?.problems ?? []), ...(result?.warnings ?? []), res.stderr].join('\n')).toMatch(row.verify.message);
    });

    if (row.good) {
      it('verify fails on a copy with one byte flipped in its largest blob; skopeo copy too', async () => {
        const bad = await corruptLargestBlob(pathOf(row), await tmp());
        const res = await airpack(['verify', '--json', bad.path]);
        expectCode('verify (corrupted)', res, 4);
        const problems = ((JSON.parse(res.stdout || '[{}]') as Array<{ problems?: string[] }>)[0]?.problems ?? []).join('\n');
        const named = problems.includes(bad.member.replace(/^\.\//, '')) || problems.includes(bad.digest.slice(7));
        expect(named, `the problem must name ${bad.member} (${bad.digest}): ${problems}`).toBe(true);
        // skopeo evidence where its default copy reads and checks that blob: configs and layers.
        // (skopeo 1.9 does not check a manifest read from an OCI layout against its digest:
        // with the a3 manifest of regclient-external damaged, its copy succeeds.)
        const ref = row.skopeo?.[0];
        if (!ref || row.entry.endsWith('.gz')) return;
        const sk = await skopeoRef(row, ref);
        // From a docker-archive skopeo takes the config's digest from its bytes, so a damaged config passes it too.
        const configs = ref.startsWith('docker-archive:') ? [] : [sk.config, sk.raw.config?.digest];
        const reads = new Set([...configs, ...(sk.raw.layers ?? []).map((l) => l.digest), ...(sk.inspect?.Layers ?? [])]);
        if (!reads.has(bad.digest)) return;
        const copy = await runTool('skopeo', ['copy', '-q', fill(row, ref, bad.path), `dir:${await tmp()}/x`]);
        expect(copy.code, `skopeo copy of the corrupted copy succeeded (it reads ${bad.member})`).not.toBe(0);
      });
    }

    {
      const f = row.find;
      it('find', async () => {
        const res = await airpack(['find', '--json', await withDigests(row, f.ref), pathOf(row)]);
        expectCode('find', res, f.code);
        if (res.code === 0 && f.platforms) {
          const matches = (JSON.parse(res.stdout) as { matches: Array<{ platforms: string[] }> }).matches;
          // The platforms the archive can deliver: those whose blobs it holds.
          expect([...new Set(matches.flatMap((m) => m.platforms))].sort()).toEqual([...f.platforms].sort());
        }
        if (f.alsoFromParent) {
          const parent = await airpack(['find', '--json', fill(row, f.ref), INTEROP_DIR]);
          expectCode('find (parent directory)', parent, 0);
          const paths = (JSON.parse(parent.stdout) as { matches: Array<{ path: string }> }).matches.map((m) => m.path);
          expect(paths.some((p) => p.endsWith(row.entry)), `find under ${INTEROP_DIR} must look inside layout directories: ${paths.join(', ')}`).toBe(true);
        }
      });
    }

    {
      const x = row.extract;
      it('extract', async () => {
        const ref = await withDigests(row, x.ref);
        const out = join(await tmp(), 'out.tar');
        const res = await airpack(['extract', pathOf(row), ref, '-o', out, ...(x.platform ? ['-p', x.platform] : [])]);
        expectCode('extract', res, x.code);
        if (x.message) expect(res.stderr).toMatch(x.message);
        if (x.notMessage) expect(res.stderr).not.toMatch(x.notMessage);
        if (res.code !== 0) expect(existsSync(out), 'a refused extract writes nothing').toBe(false);
        if (res.code === 0) await checkOutput(row, 'extract', out, x.platform ? { like: x.like, likeArch: x.platform.split('/')[1] } : { like: x.like });
      });
    }

    for (const [i, p] of row.pull.entries()) {
      it(`pull ${p.src}${p.platform ? ` -p ${p.platform}` : ''}`, async () => {
        const out = join(await tmp(), `pull${i}.tar`);
        const res = await airpack(['pull', fill(row, p.src), '-o', out, ...(p.platform ? ['-p', p.platform] : [])]);
        expectCode('pull', res, p.code);
        if (p.message) expect(res.stderr).toMatch(p.message);
        if (p.notMessage) expect(res.stderr).not.toMatch(p.notMessage);
        if (res.code === 0) await checkOutput(row, 'pull', out, p);
      });
    }

    {
      const b = row.bundle;
      it(`bundle ${b.src}`, async () => {
        const out = join(await tmp(), 'b.tar.zst');
        const res = await airpack(['bundle', fill(row, b.src), '-o', out, '--level', '3', ...(b.platform ? ['-p', b.platform] : [])]);
        expectCode('bundle', res, b.code);
        if (b.message) expect(res.stderr).toMatch(b.message);
        if (b.notMessage) expect(res.stderr).not.toMatch(b.notMessage);
        if (res.code !== 0) {
          expect(existsSync(out), 'a refused bundle writes nothing').toBe(false);
          return;
        }
        // The bundle holds what the source does: verify passes, and where skopeo reads the image it holds its config.
        const check = await airpack(['verify', out]);
        expectCode('verify of the bundle', check, 0);
      });
    }

    // Push is no column of the table: its outcome follows from ls. A good archive's named images go up and
    // read back from the registry with the digests ls reports; one whose images are all unnamed is exit 2,
    // saying how to name them; a broken one is refused (4) or pushes what is sound.
    it('push', async () => {
      const { images } = await lsOf(row);
      const res = await airpack(['push', pathOf(row), '--registry', `${site.host}/interop-${ROWS.indexOf(row)}`, '--json']);
      const named = (images ?? []).filter((i) => i.names.length > 0);
      if (!row.good) {
        expectCode('push', res, [0, 2, 4]);
        return;
      }
      if (named.length === 0) {
        expectCode('push', res, 2);
        expect(res.stderr).toMatch(/no name to give/);
        return;
      }
      expectCode('push', res, [0, 3, 4]);
      if (res.code !== 0) {
        // Refused only for what pull refuses too: an artifact or an image config without rootfs.
        expect(res.stderr).toMatch(new RegExp(`${ARTIFACT.source}|${NO_ROOTFS.source}`, 'i'));
        return;
      }
      const pushed = (JSON.parse(res.stdout) as { images: Array<{ target: string; digest: string }> }).images;
      expect(pushed.length).toBeGreaterThan(0);
      for (const p of pushed) {
        const back = await runTool('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${p.target}`]);
        expect(back.code, `${p.target}: ${back.stderr}`).toBe(0);
        expect(sha256(back.stdout), p.target).toBe(p.digest);
      }
    });

    it('reorder', async () => {
      const out = join(await tmp(), 're.tar');
      const res = await airpack(['reorder', pathOf(row), '-o', out]);
      expectCode('reorder', res, 0);
      // Same entries (a layout directory: its files), metadata first.
      const directory = (await stat(pathOf(row))).isDirectory();
      const before = directory ? await filesUnder(pathOf(row)) : await tarNames(pathOf(row));
      const after = await tarNames(out);
      expect(after.filter((n) => !directory || !n.endsWith('/')).sort()).toEqual([...before].sort());
      const meta = ['manifest.json', 'repositories', 'index.json', 'oci-layout'];
      const n = before.filter((e) => meta.includes(e.replace(/^\.\//, ''))).length;
      expect(after.slice(0, n).every((e) => meta.includes(e.replace(/^\.\//, '')))).toBe(true);
      // And ls reads the same images from it as from the input.
      const [was, now] = [await lsOf(row), await airpack(['ls', '--json', out])];
      expect(now.code, `ls of the reordered tar: ${now.stderr}`).toBe(was.res.code);
      if (now.code === 0) expect(imagesOf(now.stdout)).toEqual(imagesOf(was.res.stdout));
    });

    if (row.head) {
      it('ls | head -1 exits quietly', async () => {
        const res = await airpackPiped(['ls', pathOf(row)], 'head -1');
        sane('ls | head -1', { code: res.airpackCode, stderr: res.stderr });
        expect(res.stderr).not.toMatch(/EPIPE/);
        // Node's default is an unhandled 'error' event (exit 1 and a stack); a CLI ends quietly: 0, or SIGPIPE.
        expect([0, 141]).toContain(res.airpackCode);
      });
    }
  }
});
