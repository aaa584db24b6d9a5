/**
 * Built-in tokenizers. A tokenizer is core's small `Tokenizer` interface, so a
 * third-party package can bring its own (see `makeTextPlugin`).
 */
import type { Tokenizer } from "@memorize/core"
import * as r50k from "gpt-tokenizer/encoding/r50k_base"

/**
 * GPT-2's byte-level BPE (r50k_base, V = 50,257). Text that happens to spell a
 * special token ("<|endoftext|>") is encoded as ordinary text: corpus content
 * must never inject control tokens.
 */
export const gpt2Tokenizer: Tokenizer = {
  name: "gpt2",
  vocabSize: r50k.vocabularySize,
  encode: (text) => r50k.encode(text, { disallowedSpecial: new Set() }),
  decode: (tokens) => r50k.decode(Array.from(tokens))
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder("utf-8")

/** UTF-8 bytes as tokens (V = 256): tiny vocabulary for CPU-scale models. */
export const bytesTokenizer: Tokenizer = {
  name: "bytes",
  vocabSize: 256,
  // core's contract returns an array of numbers; a typed array would save a copy.
  encode: (text) => Array.from(utf8Encoder.encode(text)),
  decode: (tokens) => utf8Decoder.decode(Uint8Array.from(tokens as ArrayLike<number>))
}

/** The tokenizers the built-in `text` plugin knows, by spec name. */
export const builtinTokenizers: Readonly<Record<string, Tokenizer>> = {
  gpt2: gpt2Tokenizer,
  bytes: bytesTokenizer
}
