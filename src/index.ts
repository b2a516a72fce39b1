/** airpack as a library: the same functions the CLI calls. */
export * from './errors.js';
export * from './progress.js';
export * from './spec/media-types.js';
export * from './spec/types.js';
export * from './ref/index.js';
export * from './platform/index.js';
export * from './registry/index.js';
export * from './blob/index.js';
export * from './archive/index.js';
export * from './pull/index.js';
export * from './bundle/index.js';
export * from './scan/index.js';
