/** Entry for programs that assemble their own CLI (bin/memorize.ts). Kept apart so importing core never starts a runtime. */
export { runCli, describeFailure } from "./cli/main.ts"
export { setExitCode } from "./cli/exit.ts"
