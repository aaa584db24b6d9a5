/** `pnpm pack:all [DIR]`: builds and packs every publishable package into DIR (default: dist-packages/), one tarball each. */
import { Effect } from "effect"
import * as path from "node:path"
import { pack } from "./packages.ts"

const outDir = path.resolve(process.argv[2] ?? "dist-packages")
Effect.runPromise(pack(outDir)).then(
  (tarballs) => {
    for (const [name, file] of Object.entries(tarballs)) process.stdout.write(`${name}\t${file}\n`)
  },
  (e) => {
    process.stderr.write(`pack failed: ${e?.command ?? ""}\n${e?.message ?? e}\n`)
    process.exit(1)
  }
)
