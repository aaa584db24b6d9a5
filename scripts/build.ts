/** `pnpm build`: every publishable package's dist/ (scripts/packages.ts). The workspace itself runs the .ts sources and needs no build. */
import { Effect } from "effect"
import { build } from "./packages.ts"

Effect.runPromise(build).catch((e) => {
  process.stderr.write(`build failed: ${e?.command ?? ""}\n${e?.message ?? e}\n`)
  process.exit(1)
})
