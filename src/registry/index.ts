export * from './auth.js';
export * from './client.js';
export * from './credentials.js';
export * from './http.js';
