/**
 * @memorize/datasets: the dataset plugins (`synthetic-uniform`, `text`,
 * `tokens`) and the pieces other packages reuse.
 */
import { syntheticUniform } from "./synthetic.ts"
import { textDataset } from "./text.ts"
import { tokensDataset } from "./tokens.ts"

export const plugins = [syntheticUniform, textDataset, tokensDataset] as const

export { syntheticUniform, SyntheticUniformConfig, buildSyntheticUniform, uniformSequences, TRAIN_STREAM, HOLDOUT_STREAM } from "./synthetic.ts"
export { textDataset, makeTextPlugin, buildTextDataset, TextConfig, TextSource } from "./text.ts"
export { tokensDataset, TokensConfig, readTokenFiles } from "./tokens.ts"
export { gpt2Tokenizer, bytesTokenizer, builtinTokenizers } from "./tokenizers.ts"
export { Chunker, chunkDocuments, type Chunked } from "./chunk.ts"
export { UniqueSequences, HashSet64, dedupSequences, countRepeats } from "./dedup.ts"
export { hashSequence } from "./hash.ts"
export { fingerprint } from "./fingerprint.ts"
export { tfidfRarity } from "./rarity.ts"
export { philox4x32, seedKey, rejectionLimit, WordStream } from "./philox.ts"
export { Priority, priorityOrder, gatherRows, BottomK } from "./sample.ts"
export { collectSequences, type CollectOptions, type CollectStats, type Collected } from "./collect.ts"
export { DatasetError, SourceFailure, toDatasetError, datasetError } from "./errors.ts"
export { brownDocuments, brownFiles, brownDir, untagSentence, untagDocument } from "./sources/brown.ts"
export { jsonlDocuments, readLines } from "./sources/jsonl.ts"
export { tokenLines, type TokenLineRules } from "./sources/token-lines.ts"
export { parquetDocuments, topLevelColumns } from "./sources/parquet.ts"
export { plainTextDocuments } from "./sources/plaintext.ts"
export { expandPaths } from "./sources/glob.ts"
export type { DocumentPiece } from "./sources/document.ts"
