export * from './bundle.js';
export * from './checksums.js';
export * from './naming.js';
export * from './reorder-output.js';
export * from './release.js';
