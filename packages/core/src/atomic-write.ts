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

/** A temporary sibling of `file`, unique to this write. */
const temporary = (file: string) => `${file}.tmp-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`

/** Writes and syncs `content` into a new temporary sibling of `file`; removes it when that fails. */
const writeTemporary = async (file: string, content: AtomicContent): Promise<string> => {
  await fs.mkdir(NodePath.dirname(file), { recursive: true })
  const tmp = temporary(file)
  try {
    const handle = await fs.open(tmp, "w")
    try {
      await write(handle, content)
      await handle.sync()
    } finally {
      await handle.close()
    }
    return tmp
  } catch (e) {
    await fs.rm(tmp, { force: true })
    throw e
  }
}

const failure = (file: string) => (e: unknown) => {
  const code = osCode(e)
  return new StoreError({ path: file, message: `cannot write: ${osReason(e)}`, ...(code ? { code } : {}) })
}

/** Writes `content` to a temporary sibling of `file`, then puts it in place with `place` (the temporary file is always removed). */
const viaTemporary = <A>(file: string, content: AtomicContent, place: (tmp: string) => Promise<A>): Effect.Effect<A, StoreError> =>
  Effect.tryPromise({
    try: async () => {
      const tmp = await writeTemporary(file, content)
      try {
        return await place(tmp)
      } finally {
        await fs.rm(tmp, { force: true })
      }
    },
    catch: failure(file)
  })

/** Writes `file` atomically (rename over it), creating its folder when missing. */
export const writeFileAtomic = (file: string, content: AtomicContent): Effect.Effect<void, StoreError> =>
  viaTemporary(file, content, (tmp) => fs.rename(tmp, file))

/**
 * Creates `file` with `content` only if it does not exist (true), or leaves
 * the existing one alone (false): the content is written to a temporary file
 * first and hard-linked into place, so the file appears whole or not at all
 * (an exclusive create followed by a write leaves an empty file on a full
 * disk), and the create is atomic on local and NFS file systems alike.
 */
export const createFileExclusive = (file: string, content: AtomicContent): Effect.Effect<boolean, StoreError> =>
  viaTemporary(file, content, (tmp) =>
    fs.link(tmp, file).then(
      () => true,
      (e: unknown) => (osCode(e) === "EEXIST" ? false : Promise.reject(e))
    )
  )
