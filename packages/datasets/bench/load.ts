/**
 * Loading throughput of the `text` pipeline (read + tokenize + chunk into 64
 * tokens + perfect dedup): tokens per second and peak resident memory, for
 * the Brown corpus and for a generated 100 MB JSONL file.
 *
 *   pnpm tsx packages/datasets/bench/load.ts            # all cases
 *   pnpm tsx packages/datasets/bench/load.ts brown-gpt2 # one case
 *
 * Each case runs in its own child process so its peak RSS is its own, with
 * the tokenized-corpus cache off (a cache hit would measure nothing).
 */
import { spawnSync } from "node:child_process"
import { createWriteStream, existsSync, mkdirSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { textDataset } from "../src/text.ts"
import { WordStream } from "../src/philox.ts"

const JSONL_BYTES = 100 * 1024 * 1024
const benchDir = join(tmpdir(), "memorize-datasets-bench")
const jsonlFile = join(benchDir, "generated-100MB.jsonl")

interface Case {
  readonly name: string
  readonly spec: Record<string, unknown>
  readonly note: string
}

const cases: ReadonlyArray<Case> = [
  {
    name: "brown-gpt2",
    spec: { source: "brown", tokenizer: "gpt2", samples: 1e9, holdout: 0, allowFewer: true, cache: false },
    note: "whole Brown corpus, GPT-2 BPE"
  },
  {
    name: "brown-bytes",
    spec: { source: "brown", tokenizer: "bytes", samples: 1e9, holdout: 0, allowFewer: true, cache: false },
    note: "whole Brown corpus, UTF-8 bytes"
  },
  {
    name: "jsonl-gpt2",
    spec: { source: "jsonl", path: jsonlFile, tokenizer: "gpt2", samples: 1e9, holdout: 0, allowFewer: true, cache: false },
    note: "100 MB JSONL, GPT-2 BPE, every sequence kept"
  },
  {
    name: "jsonl-gpt2-shuffle",
    spec: { source: "jsonl", path: jsonlFile, tokenizer: "gpt2", samples: 10_000, holdout: 10_000, shuffle: true, cache: false },
    note: "100 MB JSONL, GPT-2 BPE, seeded sample of 20k (bottom-k)"
  }
]

/**
 * A reproducible English-like corpus: words of 1-4 syllables from a fixed
 * lexicon of 20,000, drawn with Zipf weights, in sentences and documents of
 * 200-1,200 words. Written once and reused.
 */
const generateJsonl = async (): Promise<void> => {
  if (existsSync(jsonlFile) && statSync(jsonlFile).size >= JSONL_BYTES) return
  mkdirSync(benchDir, { recursive: true })
  const syllables = ["ka", "lo", "mi", "ter", "ban", "su", "ric", "ta", "ne", "vo", "sel", "dra", "pen", "qui", "ru", "the", "ing", "com", "pre", "ex"]
  const rng = new WordStream(42, 7, 0)
  const lexicon = Array.from({ length: 20_000 }, () => {
    const n = 1 + rng.below(4)
    return Array.from({ length: n }, () => syllables[rng.below(syllables.length)]).join("")
  })
  // Zipf(1) over the lexicon via the cumulative weights.
  const cumulative = new Float64Array(lexicon.length)
  let total = 0
  lexicon.forEach((_, i) => (cumulative[i] = total += 1 / (i + 1)))
  const pick = (): string => {
    const u = (rng.next() / 2 ** 32) * total
    let lo = 0,
      hi = cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cumulative[mid] < u) lo = mid + 1
      else hi = mid
    }
    return lexicon[lo]
  }
  const out = createWriteStream(jsonlFile)
  let written = 0
  let id = 0
  while (written < JSONL_BYTES) {
    const words = 200 + rng.below(1000)
    let text = ""
    for (let w = 0; w < words; w++) {
      const word = pick()
      text += w === 0 || text.endsWith(". ") ? word[0].toUpperCase() + word.slice(1) : word
      text += rng.below(12) === 0 ? ". " : " "
    }
    const line = JSON.stringify({ id: id++, text: text.trim() }) + "\n"
    written += Buffer.byteLength(line)
    if (!out.write(line)) await new Promise<void>((r) => out.once("drain", () => r()))
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
}

const runCase = async (c: Case): Promise<void> => {
  let peak = process.memoryUsage().rss
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10)
  const config = Schema.decodeUnknownSync(textDataset.config)(c.spec, { onExcessProperty: "error" })
  const start = performance.now()
  const dataset = await Effect.runPromise(Effect.scoped(textDataset.make(config)({ seed: 0, specDir: process.cwd(), runDir: benchDir, cacheDir: benchDir })))
  const seconds = (performance.now() - start) / 1000
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage().rss)
  const tokens = Number(dataset.stats.tokens)
  console.log(
    JSON.stringify({
      case: c.name,
      note: c.note,
      documents: dataset.stats.documents,
      tokens,
      sequences: dataset.stats.sequences,
      distinct: dataset.stats.uniqueSequences,
      duplicatesDropped: dataset.stats.duplicatesDropped,
      kept: dataset.train.count + dataset.holdout.count,
      cacheHit: dataset.stats.cacheHit,
      seconds: Number(seconds.toFixed(2)),
      tokensPerSecond: Math.round(tokens / seconds),
      peakRssMB: Math.round(peak / 2 ** 20)
    })
  )
}

const main = async () => {
  const only = process.argv[2]
  if (only) {
    const c = cases.find((x) => x.name === only)
    if (!c) throw new Error(`unknown case ${only}; cases: ${cases.map((x) => x.name).join(", ")}`)
    await runCase(c)
    return
  }
  console.log(`generating ${jsonlFile} (${JSONL_BYTES / 2 ** 20} MB, once)...`)
  await generateJsonl()
  console.log(`node ${process.version}, ${process.platform}/${process.arch}`)
  for (const c of cases) {
    const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], c.name], { stdio: "inherit" })
    if (child.status !== 0) throw new Error(`case ${c.name} failed (exit ${child.status})`)
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
