/**
 * The one atomic file writer: content goes to a temporary file in the same
 * folder, is synced, and is renamed over the target, so a reader (or a
 * process killed mid-write) never sees a torn file. On failure the temporary
 * file is removed and the error keeps the OS reason and the path.
 */
import { Effect } from "effect"
import * as fs from "node:fs/promises"
import * as NodePath from "node:path"
import { StoreError } from "./errors.ts"
import { osCode, osReason } from "./os-error.ts"

/** What to write: the whole content, or chunks (a long JSONL, say) streamed through a 1 MiB buffer. */
export type AtomicContent = string | Uint8Array | Iterable<string>

const write = async (handle: fs.FileHandle, content: AtomicContent) => {
  if (typeof content === "string" || content instanceof Uint8Array) return void (await handle.writeFile(content))
  let buffer = ""
  for (const chunk of content) {
    buffer += chunk
    if (buffer.length > 1 << 20) {
      await handle.write(buffer)
      buffer = ""
    }
  }
  await handle.write(buffer)
}

/** Writes `file` atomically, creating its folder when missing. */
export const writeFileAtomic = (file: string, content: AtomicContent): Effect.Effect<void, StoreError> =>
  Effect.tryPromise({
    try: async () => {
      await fs.mkdir(NodePath.dirname(file), { recursive: true })
      const tmp = `${file}.tmp-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
      try {
        const handle = await fs.open(tmp, "w")
        try {
          await write(handle, content)
          await handle.sync()
        } finally {
          await handle.close()
        }
        await fs.rename(tmp, file)
      } catch (e) {
        await fs.rm(tmp, { force: true })
        throw e
      }
    },
    catch: (e) => {
      const code = osCode(e)
      return new StoreError({ path: file, message: `cannot write: ${osReason(e)}`, ...(code ? { code } : {}) })
    }
  })
