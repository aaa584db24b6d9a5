import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // WebGPU tests share one software (or real) adapter; long GPU tests need room.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks"
  }
})
