{
  "targets": [
    {
      "target_name": "rados_addon",
      "sources": ["native/rados_addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-lrados"]
    }
  ]
}
