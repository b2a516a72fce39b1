export * from './assemble.js';
export * from './fetch.js';
export * from './pull.js';
export * from '../source/resolve.js';
export * from '../source/registry-source.js';
