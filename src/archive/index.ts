export * from './image-archive.js';
export * from './tar-header.js';
