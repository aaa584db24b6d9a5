{
  "targets": [
    {
      "target_name": "memorize_cpu",
      "sources": ["addon.cc", "kernels.cc"],
      "dependencies": ["memorize_quantize"],
      "include_dirs": ["/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/openblas"],
      "cflags_cc!": ["-fno-exceptions", "-O2", "-O3"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-Wall", "-Wno-unused-parameter"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-lopenblas", "-lgomp"]
    },
    {
      "#": "The coder's quantizer (quantize.cc) must give the doubles of packages/core/src/quantize.ts: no fused multiply-add, no fast-math reassociation. -fno-trapping-math only lets GCC if-convert and vectorise the 2^x loop (FP exception flags, not values).",
      "target_name": "memorize_quantize",
      "type": "static_library",
      "sources": ["quantize.cc"],
      "cflags_cc!": ["-fno-exceptions", "-O2", "-O3"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fopenmp", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math", "-fPIC", "-Wall"]
    }
  ]
}
