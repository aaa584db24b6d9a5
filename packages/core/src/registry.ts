/**
 * The plugin registry: every dataset, model, trainer, metric and law plugin
 * known to this process, found by (kind, name). Built-ins come from the CLI;
 * third-party modules named in a spec's `plugins:` are loaded at start.
 */
import { Context, Effect, Layer } from "effect"
import { createRequire } from "node:module"
import * as NodePath from "node:path"
import { pathToFileURL } from "node:url"
import { PluginError } from "./errors.ts"
import { isPlugin, type Plugin, type PluginKind } from "./plugin.ts"

export interface RegistryShape {
  readonly plugins: ReadonlyArray<Plugin>
  readonly find: <K extends PluginKind>(kind: K, name: string) => Extract<Plugin, { kind: K }> | undefined
  readonly names: (kind: PluginKind) => ReadonlyArray<string>
  /** A registry with more plugins (name clashes are errors). */
  readonly extend: (plugins: ReadonlyArray<Plugin>, origin: string) => Effect.Effect<RegistryShape, PluginError>
}

export class Registry extends Context.Service<Registry, RegistryShape>()("memorize/Registry") {
  static readonly layer = (plugins: ReadonlyArray<Plugin>) => Layer.effect(Registry, makeRegistry(plugins, "built-in"))
}

export const makeRegistry = (plugins: ReadonlyArray<Plugin>, origin: string, base: ReadonlyArray<Plugin> = []): Effect.Effect<RegistryShape, PluginError> =>
  Effect.suspend(() => {
    const byKey = new Map<string, Plugin>()
    for (const p of base) byKey.set(`${p.kind}/${p.name}`, p)
    for (const p of plugins) {
      const key = `${p.kind}/${p.name}`
      if (byKey.has(key)) {
        return Effect.fail(
          new PluginError({
            plugin: p.name,
            message: `${origin} defines ${p.kind} plugin "${p.name}", but a ${p.kind} plugin with that name is already registered`
          })
        )
      }
      byKey.set(key, p)
    }
    const all = [...byKey.values()]
    const shape: RegistryShape = {
      plugins: all,
      find: (kind, name) => byKey.get(`${kind}/${name}`) as any,
      names: (kind) =>
        all
          .filter((p) => p.kind === kind)
          .map((p) => p.name)
          .sort(),
      extend: (more, from) => makeRegistry(more, from, all)
    }
    return Effect.succeed(shape)
  })

/**
 * Imports plugin modules: a relative path (against `baseDir`, the spec's
 * folder) or a package name. The module's default export (or its `plugins`
 * export) is a plugin or a list of plugins made with `definePlugin`.
 */
export const loadPluginModules = (
  specifiers: ReadonlyArray<string>,
  baseDir: string
): Effect.Effect<ReadonlyArray<{ readonly origin: string; readonly plugins: ReadonlyArray<Plugin> }>, PluginError> =>
  Effect.forEach(specifiers, (specifier) =>
    Effect.gen(function* () {
      const resolved = pathToFileURL(yield* resolvePluginModule(specifier, baseDir)).href
      const mod = yield* Effect.tryPromise({
        try: () => import(resolved),
        catch: (e) => new PluginError({ plugin: specifier, message: `cannot load plugin module "${specifier}": ${(e as Error)?.message ?? String(e)}` })
      })
      const exported = mod.default ?? mod.plugins
      const list: Array<unknown> = Array.isArray(exported) ? exported : exported === undefined ? [] : [exported]
      if (list.length === 0) {
        return yield* new PluginError({
          plugin: specifier,
          message: `plugin module "${specifier}" has no default export (a plugin or a list of plugins made with definePlugin)`
        })
      }
      const plugins = list.filter(isPlugin)
      if (plugins.length < list.length) {
        const bad = list.findIndex((p) => !isPlugin(p))
        return yield* new PluginError({
          plugin: specifier,
          message: `plugin module "${specifier}": export #${bad} is not a plugin (needs kind, name, config schema and make; use definePlugin)`
        })
      }
      return { origin: `plugin module "${specifier}"`, plugins }
    })
  )

/** The file a plugin specifier names: a path relative to `baseDir` (the spec's folder) or absolute, or a package resolved from there. */
export const resolvePluginModule = (specifier: string, baseDir: string): Effect.Effect<string, PluginError> =>
  Effect.try({
    try: () =>
      specifier.startsWith(".") || NodePath.isAbsolute(specifier)
        ? NodePath.resolve(baseDir, specifier)
        : createRequire(NodePath.join(baseDir, "noop.js")).resolve(specifier),
    catch: () => new PluginError({ plugin: specifier, message: `cannot find plugin module "${specifier}" (from ${baseDir})` })
  })

/** Every specifier with the file it names, for the run store's record (plugins.json). */
export const resolvePluginModules = (specifiers: ReadonlyArray<string>, baseDir: string) =>
  Effect.forEach(specifiers, (specifier) => Effect.map(resolvePluginModule(specifier, baseDir), (path) => ({ specifier, path })))

/** The registry with the spec's third-party plugins added. */
export const withPluginModules = (registry: RegistryShape, specifiers: ReadonlyArray<string>, baseDir: string): Effect.Effect<RegistryShape, PluginError> =>
  Effect.gen(function* () {
    let current = registry
    for (const { origin, plugins } of yield* loadPluginModules(specifiers, baseDir)) {
      current = yield* current.extend(plugins, origin)
    }
    return current
  })
