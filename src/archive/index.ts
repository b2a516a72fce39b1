export * from './image-archive.js';
export * from './compression-name.js';
export * from './tar-header.js';
