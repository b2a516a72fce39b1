/**
 * Progress events for long work. The library only emits them; the CLI
 * decides whether to draw a status line (a terminal) or stay quiet (CI).
 */
export type ProgressEvent =
  | { type: 'resolved'; images: number; totalBytes: number }
  | { type: 'bytes'; n: number }
  | { type: 'blob-done'; digest: string; size: number; cached: boolean }
  | { type: 'image-done'; reference: string; platform: string }
  | { type: 'writing'; output: string }
  | { type: 'warning'; message: string };

export type ProgressListener = (event: ProgressEvent) => void;
