// node-gyp-build ships no types: it loads the addon of a package folder (build/Release first,
// then prebuilds/<platform>-<arch>/).
declare module 'node-gyp-build' {
  function load(dir: string): unknown;
  namespace load {
    function path(dir?: string): string;
  }
  export default load;
}
