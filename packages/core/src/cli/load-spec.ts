/**
 * Reading a spec file for a command: the file (with a clear reason when it
 * cannot be read), its YAML with positions, the registry with the spec's
 * own plugin modules, and the decoded experiment.
 */
import { Effect, FileSystem } from "effect"
import * as NodePath from "node:path"
import { SpecError } from "../errors.ts"
import { osReason } from "../os-error.ts"
import { Registry, withPluginModules } from "../registry.ts"
import { decodeExperiment } from "../spec/decode.ts"
import { parseOverride, setAt } from "../spec/overrides.ts"
import { parseYamlSpec, positionOf, type SpecSource } from "../spec/yaml-source.ts"

/** Why a spec file cannot be read, in words (missing, a folder, no permission...). */
const unreadable = (file: string, cause: unknown): SpecError => {
  const reason = osReason(cause)
  return new SpecError({ file, issues: [{ path: "", message: `cannot read the spec file "${file}"${reason ? `: ${reason}` : ""}` }] })
}

/** The spec's plugin list after `--set plugins=...` overrides (which must load before decoding). */
const pluginListOf = (value: unknown, sets: ReadonlyArray<string>): unknown => {
  let raw = value
  for (const text of sets) {
    const o = parseOverride(text)
    if ("text" in o && o.path[0] === "plugins") raw = setAt(raw, o.path, o.value)
  }
  return (raw as { plugins?: unknown } | null)?.plugins
}

const isModuleList = (list: unknown): list is Array<string> => Array.isArray(list) && list.every((p) => typeof p === "string")

/** Reads and parses a spec file, keeping its source positions. */
export const readSpec = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(file).pipe(Effect.mapError((e) => unreadable(file, e)))
    if (info.type !== "File") return yield* unreadable(file, { message: `it is a ${info.type.toLowerCase()}, not a file` })
    const text = yield* fs.readFileString(file).pipe(Effect.mapError((e) => unreadable(file, e)))
    return yield* parseYamlSpec(file, text)
  })

/**
 * The built-in registry plus the spec's `plugins:` modules (resolved from
 * the spec's folder). A malformed list leaves the built-ins alone: decoding
 * reports it; `strict` reports it here, for commands that decode nothing.
 */
export const specRegistry = (source: SpecSource, sets: ReadonlyArray<string>, strict = false) =>
  Effect.gen(function* () {
    const builtin = yield* Registry
    const list = pluginListOf(source.value, sets)
    if (isModuleList(list)) return yield* withPluginModules(builtin, list, NodePath.dirname(NodePath.resolve(source.file)))
    if (strict && list !== undefined) {
      return yield* new SpecError({
        file: source.file,
        issues: [{ path: "plugins", message: "expected a list of plugin modules (paths or package names)", ...positionOf(source, ["plugins"]) }]
      })
    }
    return builtin
  })

/** Reads, parses and decodes a spec against the registry (plus its own plugins). */
export const loadExperiment = (file: string, sets: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const source = yield* readSpec(file)
    const registry = yield* specRegistry(source, sets)
    const experiment = yield* decodeExperiment(source, registry, { sets })
    return { experiment, registry }
  })
