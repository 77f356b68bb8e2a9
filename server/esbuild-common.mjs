// esbuild options shared by every bundle of the companion server (server/build.mjs) and by the
// test that bundles the native loader the same way (test/server/native-bundle.test.ts).
export const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // some dependencies call require(); ESM output needs one
  banner: {
    js: "import { createRequire as __nexusCreateRequire } from 'node:module'; const require = __nexusCreateRequire(import.meta.url);"
  },
  logLevel: 'warning'
};
