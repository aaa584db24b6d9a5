/**
 * What plugins declare about each other, so that `validate` can reject a run
 * that would only fail after training. A dataset plugin states what it will
 * provide (`facts`: sequence length, non-member count, exact entropy,
 * rarity...), read from its config alone; any plugin states what it needs
 * (`check`) of its own config, of the run's dataset facts and reference, and
 * of the file system (paths that must exist). Core asks every run of the
 * sweep before any work starts and reports each problem at its spec location.
 */
import type { Effect } from "effect"

/** What a dataset will provide, as far as its config tells before building it. Unknown = absent. */
export interface DataFacts {
  /** Tokens per sequence. */
  readonly seqLen?: number
  /** Vocabulary size (of the tokenizer, for text). */
  readonly vocabSize?: number
  /** Member (training) sequences asked for. */
  readonly samples?: number
  /** Non-member (holdout) sequences: 0 when there will be none. */
  readonly holdout?: number
  /** Whether each sequence's exact entropy H(x) is known (synthetic data). */
  readonly exactEntropy?: boolean
  /** Whether per-sample rarity (TF-IDF) is computed. */
  readonly rarity?: boolean
  /** The tokenizer's name, for text data. */
  readonly tokenizer?: string
}

/** The rest of the run a plugin section is checked against. */
export interface RunFacts {
  readonly dataset: DataFacts
  /** Present when the spec has a reference model θ. */
  readonly reference?: { readonly dataset: DataFacts }
  /** The names of the run's metrics (a law checks that the metric it reads is there). */
  readonly metrics?: ReadonlyArray<string>
}

export interface CheckInput {
  /** Folder of the spec: relative paths resolve against it. */
  readonly specDir: string
  readonly run: RunFacts
}

/**
 * One unmet requirement. `path` is relative to the plugin's own section
 * (`["path"]`, `["prefixLengths", 2]`; empty = the section's `kind`), or,
 * with `specPath`, a path from the spec's root (`["dataset", "holdout"]`)
 * when the field to change is in another section.
 */
export interface Problem {
  readonly message: string
  readonly path?: ReadonlyArray<string | number>
  readonly specPath?: ReadonlyArray<string | number>
}

/**
 * A plugin's requirement check. It never fails: every problem is a value.
 * It runs once per distinct (config, facts) pair, so a large sweep costs
 * only as many checks as it has distinct sections.
 */
export type RequirementCheck<C> = (config: C, input: CheckInput) => Effect.Effect<ReadonlyArray<Problem>>

/** A dataset plugin's declaration of what its config will produce. */
export type FactsOf<C> = (config: C) => DataFacts
