// esbuild options shared by every bundle of the companion server (server/build.mjs) and by the
// test that bundles the native loader the same way (test/server/native-bundle.test.ts).
export const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // some dependencies call require(); ESM output needs one
  banner: {
    js: "import { createRequire as __nexusCreateRequire } from 'node:module'; const require = __nexusCreateRequire(import.meta.url); const __nexusDirname = new URL('.', import.meta.url).pathname;"
  },
  // CommonJS dependencies (ssh2's agent) use __dirname, which ESM lacks
  define: { __dirname: '__nexusDirname' },
  // ssh2's optional native speed-ups (loaded in try/catch): the bundle uses its pure-JS crypto
  external: ['cpu-features', '*.node'],
  logLevel: 'warning'
};
