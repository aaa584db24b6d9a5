/** Verified compression: an arithmetic coder driven by a model's next-token logits, and its file format. */
export { ArithmeticDecoder, ArithmeticEncoder, MAX_FREQ_BITS, MIN_FREQ_BITS, scaleDown, truncationBound } from "./range-coder.ts"
export { BitReader, BitWriter, concatBits } from "./bits.ts"
// The quantizer is defined in core, where a backend's faster twin can be checked against it.
export { exp2NonPositive, makeQuantizer, quantizationBound, type Quantizer } from "@memorize/core"
export { decodeSequences, encodeSequences, type CodecOptions, type CodeWord, type Encoded, type LogitsSource } from "./codec.ts"
export { CompressedHeader, FORMAT_VERSION, HEADER_BYTES, MAGIC, readCompressed, tokensHash, writeCompressed, type CompressedFile } from "./format.ts"
export { compressSequences, decompressSequences, readHeader, type CompressSettings, type CompressStats, type SourceFor } from "./container.ts"
