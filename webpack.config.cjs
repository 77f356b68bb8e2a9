/* global module */
// Merged into the labextension build (package.json jupyterlab.webpackConfig). JupyterLab ships the
// production React; in a development build, libraries with their own reconciler (H5Web's
// @react-three/fiber) would pick their development build, which reads React internals that only
// the development React has, and every H5Web heatmap would crash. So bundled code always sees
// NODE_ENV = production; source maps and unminified output of the development build stay.
module.exports = {
  optimization: { nodeEnv: 'production' }
};
