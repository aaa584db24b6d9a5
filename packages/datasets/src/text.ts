/**
 * `text`: natural-language datasets (the paper's FineWeb setup, or the Brown
 * corpus for small runs). Documents from a source are tokenized, cut into
 * sequences of exactly `seqLen` tokens within documents, perfectly
 * deduplicated, and split by seed into disjoint members and non-members.
 *
 * Split: distinct sequences are ordered by their seeded priority (`sample.ts`);
 * the first `samples` are members, the next `holdout` non-members. With
 * `allowFewer` and fewer distinct sequences than asked, the available ones are
 * split in the proportion samples : holdout.
 */
import { Effect, Schema } from "effect"
import { definePlugin, withDefault, type Dataset, type DatasetPlugin, type Problem, type Tokenizer } from "@memorize/core"
import { cacheKey, readCached, writeCached, type CacheMiss } from "./cache.ts"
import { collectSequences } from "./collect.ts"
import { datasetError, toDatasetError } from "./errors.ts"
import { DataSeed, Holdout, pathProblems, Samples, SeqLen, sizeProblems } from "./fields.ts"
import { fingerprint } from "./fingerprint.ts"
import { tfidfRarity } from "./rarity.ts"
import { gatherRows, priorityOrder } from "./sample.ts"
import { brownDocuments, brownFiles } from "./sources/brown.ts"
import type { DocumentPiece } from "./sources/document.ts"
import { expandPaths } from "./sources/glob.ts"
import { jsonlDocuments } from "./sources/jsonl.ts"
import { parquetDocuments } from "./sources/parquet.ts"
import { plainTextDocuments } from "./sources/plaintext.ts"
import { builtinTokenizers } from "./tokenizers.ts"

const NAME = "text"
/** The Brown corpus's genre letters (A press: reportage ... R humor). */
const BROWN_CATEGORIES = ["a", "b", "c", "d", "e", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r"]

export const TextSource = Schema.Literals(["brown", "text", "jsonl", "parquet"])
export type TextSource = typeof TextSource.Type

export const TextConfig = Schema.Struct({
  source: Schema.optional(TextSource).annotate({
    description: "brown (the Brown corpus, bundled), text, jsonl or parquet files (default: from the extension of path)"
  }),
  path: Schema.optional(Schema.Union([Schema.String, Schema.Array(Schema.String)])).annotate({
    description: "file(s) or glob(s) of the corpus, relative to the spec's folder (not for brown)"
  }),
  field: withDefault(Schema.String.annotate({ description: "jsonl: the (dotted) field holding the text" }), "text"),
  column: withDefault(Schema.String.annotate({ description: "parquet: the column holding the text (FineWeb: text)" }), "text"),
  categories: Schema.optional(Schema.Array(Schema.String)).annotate({ description: "brown: genre letters a–r to keep (default: all)" }),
  tokenizer: withDefault(Schema.String.annotate({ description: "gpt2 (V = 50,257, the paper's) or bytes (UTF-8 bytes, V = 256)" }), "gpt2"),
  seqLen: withDefault(SeqLen.annotate({ description: "tokens per sequence; the paper: 64" }), 64),
  samples: Samples.annotate({ description: "member (training) sequences, distinct after deduplication" }),
  holdout: Schema.optional(Holdout).annotate({ description: "non-member sequences, disjoint from the members (default: samples)" }),
  shuffle: withDefault(
    Schema.Boolean.annotate({ description: "sample uniformly from the whole corpus (reads all of it) instead of taking the first sequences" }),
    false
  ),
  allowFewer: withDefault(Schema.Boolean.annotate({ description: "accept fewer distinct sequences than asked instead of failing" }), false),
  rarity: withDefault(Schema.Boolean.annotate({ description: "store each sequence's TF-IDF rarity (the rarity metric needs it)" }), false),
  seed: Schema.optional(DataSeed).annotate({ description: "data seed: sampling and the member/non-member split (default: the run's seed)" }),
  cache: withDefault(Schema.Boolean.annotate({ description: "reuse tokenized sequences cached under the run store's cache folder" }), true)
})
export type TextConfig = typeof TextConfig.Type

const inferSource = (paths: ReadonlyArray<string>): TextSource | undefined => {
  const exts = new Set(paths.map((p) => (/\.(jsonl|ndjson|json)$/i.test(p) ? "jsonl" : /\.parquet$/i.test(p) ? "parquet" : "text")))
  return exts.size === 1 ? ([...exts][0] as TextSource) : undefined
}

const documentsOf = (source: TextSource, files: ReadonlyArray<string>, config: TextConfig): AsyncIterable<DocumentPiece> => {
  switch (source) {
    case "brown":
      return brownDocuments(config.categories)
    case "text":
      return plainTextDocuments(files)
    case "jsonl":
      return jsonlDocuments(files, config.field)
    case "parquet":
      return parquetDocuments(files, config.column)
  }
}

/** The source a config reads: stated, or inferred from the paths' extensions. */
const sourceOf = (config: TextConfig): TextSource | undefined => {
  const patterns = patternsOf(config)
  return config.source ?? (patterns.length > 0 ? inferSource(patterns) : undefined)
}

const patternsOf = (config: TextConfig): ReadonlyArray<string> =>
  config.path === undefined ? [] : typeof config.path === "string" ? [config.path] : config.path

/**
 * What is wrong with a config before any file is read: unknown tokenizer,
 * no source, categories that do not apply, a size that does not fit. Checked
 * by `validate` (plugin `check`) and again when the dataset is built.
 */
export const configProblems = (config: TextConfig, tokenizers: Readonly<Record<string, Tokenizer>>): ReadonlyArray<Problem> => {
  const problems: Array<Problem> = []
  if (!tokenizers[config.tokenizer]) {
    problems.push({ path: ["tokenizer"], message: `unknown tokenizer "${config.tokenizer}" (known: ${Object.keys(tokenizers).join(", ")})` })
  }
  const patterns = patternsOf(config)
  const source = sourceOf(config)
  if (source === undefined) {
    problems.push(
      patterns.length === 0
        ? { message: `no source: set source: brown, or a path to text, JSONL or Parquet files` }
        : { path: ["path"], message: `cannot tell the format of ${patterns.join(", ")}: set source: text | jsonl | parquet` }
    )
  } else if (source !== "brown" && patterns.length === 0) {
    problems.push({ path: ["source"], message: `source ${source} needs a path (file or glob)` })
  }
  if (config.categories !== undefined) {
    if (source !== "brown") problems.push({ path: ["categories"], message: `categories applies to source: brown only, found source ${source ?? "none"}` })
    const unknown = config.categories.filter((c) => !BROWN_CATEGORIES.includes(c.toLowerCase()))
    if (unknown.length > 0)
      problems.push({
        path: ["categories"],
        message: `unknown Brown categories ${unknown.map((c) => `"${c}"`).join(", ")} (known: ${BROWN_CATEGORIES.join(", ")})`
      })
  }
  problems.push(...sizeProblems(config.samples, config.holdout ?? config.samples, config.seqLen))
  return problems
}

export interface TextContext {
  readonly seed: number
  readonly specDir: string
  /** Where tokenized corpora are cached; no caching without it. */
  readonly cacheDir?: string
}

export const buildTextDataset = Effect.fn("text.build")(function* (
  config: TextConfig,
  context: TextContext,
  tokenizers: Readonly<Record<string, Tokenizer>> = builtinTokenizers
) {
  const fail = (message: string, file?: string) => Effect.fail(datasetError(NAME, message, file))
  const { seqLen, samples } = config
  const holdout = config.holdout ?? samples
  const seed = config.seed ?? context.seed
  // Validated specs never get here with these; a direct caller (a test, a library user) may.
  const problem = configProblems(config, tokenizers)[0]
  if (problem) return yield* fail(problem.message)
  const tokenizer = tokenizers[config.tokenizer]!
  const patterns = patternsOf(config)
  const source = sourceOf(config)!
  const want = samples + holdout

  const misses: Array<CacheMiss> = []
  const { files, result, cacheHit } = yield* Effect.tryPromise({
    try: async (signal) => {
      const files = source === "brown" ? [] : await expandPaths(patterns, context.specDir)
      const collect = () => collectSequences(documentsOf(source, files, config), { tokenizer, seqLen, want, shuffle: config.shuffle, seed, signal })
      const cacheDir = config.cache ? context.cacheDir : undefined
      if (cacheDir === undefined) return { files, result: await collect(), cacheHit: false }
      const key = await cacheKey(
        {
          source,
          field: config.field,
          column: config.column,
          categories: config.categories ?? null,
          tokenizer: tokenizer.name,
          vocabSize: tokenizer.vocabSize,
          seqLen,
          want,
          shuffle: config.shuffle,
          seed: config.shuffle ? seed : null
        },
        source === "brown" ? await brownFiles() : files
      )
      const cached = await readCached(cacheDir, key, seqLen, (m) => misses.push(m))
      if (cached) return { files, result: cached, cacheHit: true }
      const result = await collect()
      // A cache that cannot be written only costs time next run.
      await writeCached(cacheDir, key, seqLen, result).catch(() => undefined)
      return { files, result, cacheHit: false }
    },
    catch: toDatasetError(NAME)
  })
  for (const m of misses) yield* Effect.logWarning(`dataset cache ${m.file} not used (${m.reason}); rebuilt`)
  const where = source === "brown" ? "the Brown corpus" : files.length === 1 ? files[0] : `${files.length} files (${patterns.join(", ")})`
  const firstFile = source === "brown" ? undefined : files[0]
  if (result.count === 0) {
    return yield* fail(
      `empty corpus: ${where} gave ${result.stats.documents} documents, ${result.stats.tokens} tokens and no sequence of ${seqLen} tokens`,
      firstFile
    )
  }
  if (result.count < want && !config.allowFewer) {
    return yield* fail(
      `only ${result.count} distinct sequences of ${seqLen} tokens in ${where} (${result.stats.duplicatesDropped} duplicates dropped), ` +
        `but samples ${samples} + holdout ${holdout} = ${want} requested; lower them or set allowFewer: true`,
      firstFile
    )
  }
  const members = result.count >= want ? samples : Math.round((result.count * samples) / want)
  const nonMembers = Math.min(holdout, result.count - members)
  const order = priorityOrder(result.tokens, result.count, seqLen, seed)
  const V = tokenizer.vocabSize
  const train = { vocabSize: V, seqLen, count: members, tokens: gatherRows(result.tokens, seqLen, order, 0, members) }
  const held = { vocabSize: V, seqLen, count: nonMembers, tokens: gatherRows(result.tokens, seqLen, order, members, members + nonMembers) }
  const dataset: Dataset = {
    kind: NAME,
    vocabSize: V,
    seqLen,
    train,
    holdout: held,
    fingerprint: fingerprint(train, held),
    tokenizer,
    ...(config.rarity ? { rarity: tfidfRarity(train, held) } : {}),
    stats: {
      source,
      files: source === "brown" ? result.stats.documents : files.length,
      tokenizer: tokenizer.name,
      seed,
      shuffle: config.shuffle,
      documents: result.stats.documents,
      tokens: result.stats.tokens,
      sequences: result.stats.sequences,
      duplicatesDropped: result.stats.duplicatesDropped,
      tailTokensDropped: result.stats.tailTokensDropped,
      uniqueSequences: result.stats.uniqueSequences,
      corpusExhausted: result.stats.exhausted,
      fewerThanRequested: result.count < want,
      cacheHit,
      ...(misses.length > 0 ? { cacheRebuilt: misses[0]!.reason } : {})
    }
  }
  return dataset
})

/**
 * A `text` dataset plugin that knows the given tokenizers: a third-party
 * package adds a tokenizer by registering its own plugin made with
 * `makeTextPlugin({ ...builtinTokenizers, mine })` under another name.
 */
export const makeTextPlugin = (tokenizers: Readonly<Record<string, Tokenizer>>, name = NAME): DatasetPlugin<TextConfig> =>
  definePlugin({
    kind: "dataset",
    name,
    description:
      "Text corpora (Brown, plain text, JSONL, Parquet) tokenized (gpt2 | bytes), chunked into seqLen-token sequences, perfectly deduplicated, split by seed.",
    config: TextConfig,
    facts: (config) => ({
      seqLen: config.seqLen,
      samples: config.samples,
      // allowFewer may shrink both splits, but never to no holdout when one was asked for.
      holdout: config.holdout ?? config.samples,
      exactEntropy: false,
      rarity: config.rarity,
      ...(tokenizers[config.tokenizer] ? { tokenizer: config.tokenizer, vocabSize: tokenizers[config.tokenizer]!.vocabSize } : {})
    }),
    check: (config, { specDir }) =>
      Effect.map(sourceOf(config) === "brown" ? Effect.succeed([]) : pathProblems("path", config.path, specDir), (missing) => [
        ...configProblems(config, tokenizers),
        ...missing
      ]),
    make: (config) => (context) => buildTextDataset(config, context, tokenizers).pipe(Effect.map((d) => (name === NAME ? d : { ...d, kind: name })))
  })

export const textDataset = makeTextPlugin(builtinTokenizers)
