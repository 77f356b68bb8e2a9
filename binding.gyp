{
  "targets": [
    {
      "target_name": "nexus_transform",
      "sources": ["native/src/addon.cc", "native/src/bin_frames.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++20", "-O3", "-ffp-contract=off", "-pthread"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["target_arch == 'x64'", { "cflags_cc": ["-march=x86-64-v2", "-mtune=generic"] }]
      ]
    }
  ]
}
