/**
 * The process exit code, set by command handlers and read by the runtime's
 * teardown: 0 ok, 1 a run failed, 2 bad spec or usage, 130 interrupted.
 */
import { Effect } from "effect"

let code = 0
export const setExitCode = (value: number) =>
  Effect.sync(() => {
    code = Math.max(code, value)
  })
export const exitCode = () => code
