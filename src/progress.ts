/**
 * Progress events for long work. The library only emits them; the CLI
 * decides whether to draw a status line (a terminal) or stay quiet (CI).
 */
/** The long stretches of work a progress line can show. */
export type Phase = 'resolve' | 'download' | 'compress' | 'write' | 'verify' | 'push';

export type ProgressEvent =
  | { type: 'resolved'; images: number; totalBytes: number }
  /** Bytes over the network: downloaded (pull, bundle) or uploaded (push). */
  | { type: 'bytes'; n: number }
  /**
   * A phase starts; `totalBytes` when its size is known (a percentage and an ETA need it). 'resolve'
   * counts references, not bytes: its total and progress are references resolved.
   */
  | { type: 'phase'; phase: Phase; totalBytes?: number; what?: string }
  /** `n` more bytes of a phase done: uncompressed bytes through the compressor, bytes hashed by verify. */
  | { type: 'progress'; phase: Phase; n: number }
  | { type: 'blob-done'; digest: string; size: number; cached: boolean }
  | { type: 'image-done'; reference: string; platform: string }
  | { type: 'writing'; output: string }
  | { type: 'warning'; message: string };

export type ProgressListener = (event: ProgressEvent) => void;
