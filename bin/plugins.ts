/** The built-in plugins the `memorize` CLI registers: every package's `plugins` list. */
import type { Plugin } from "@memorize/core"
import { plugins as datasetPlugins } from "@memorize/datasets"
import { plugins as gpuPlugins } from "@memorize/gpu-webgpu"
import { plugins as metricPlugins } from "@memorize/metrics"

export const builtinPlugins: ReadonlyArray<Plugin> = [...datasetPlugins, ...(gpuPlugins as ReadonlyArray<Plugin>), ...metricPlugins]
