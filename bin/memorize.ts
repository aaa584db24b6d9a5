#!/usr/bin/env node
/** The `memorize` command: core's CLI with the built-in plugins of every package. */
import { runCli } from "@memorize/core/cli"
import { compressCommand, decompressCommand } from "./compress.ts"
import { evalCommand } from "./eval.ts"
import { builtinPlugins } from "./plugins.ts"

runCli(builtinPlugins, [evalCommand, compressCommand, decompressCommand])
