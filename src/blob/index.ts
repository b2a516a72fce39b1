export * from './decompress.js';
export * from './download.js';
export * from './store.js';
export * from './verify.js';
