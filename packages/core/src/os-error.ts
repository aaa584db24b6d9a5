/**
 * The operating system's reason for a failed file operation, kept through
 * the wrappers (Effect's PlatformError → SystemError → Node's errno error):
 * "ENOSPC: no space left on device, write", "EROFS: read-only file system,
 * open '/runs/x'". Without it a full disk reads "Unknown: writeFile".
 */

interface Errno {
  readonly code?: unknown
  readonly message?: unknown
  readonly syscall?: unknown
  readonly path?: unknown
}

/** The innermost errno-style error (one with a string `code` like "ENOSPC") in a chain of causes. */
export const errnoOf = (error: unknown): Errno | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 8 && current !== null && typeof current === "object"; depth++) {
    const e = current as Errno & { reason?: unknown; cause?: unknown }
    if (typeof e.code === "string" && /^E[A-Z0-9]+$/.test(e.code)) return e
    current = e.reason ?? e.cause
  }
  return undefined
}

/** The errno code ("ENOSPC", "EROFS", "EACCES", "ENOTDIR"...) of a failure, if it has one. */
export const osCode = (error: unknown): string | undefined => errnoOf(error)?.code as string | undefined

/** A one-line reason: the OS message with its code when there is one, else the error's own message. */
export const osReason = (error: unknown): string => {
  const errno = errnoOf(error)
  if (errno && typeof errno.message === "string") {
    return errno.message.startsWith(String(errno.code)) ? errno.message : `${String(errno.code)}: ${errno.message}`
  }
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === "string" ? message : String(error)
}
