/**
 * A one-line progress display on stderr for commands that work through a
 * known amount (eval's sequences): a bar redrawn in place on a terminal, a
 * line every tenth elsewhere (long inputs only), so logs stay short.
 */
/** How the line names the work: "eval 200/2000 sequences, 41.0 seq/s". */
export interface ProgressLabels {
  readonly what: string
  readonly unit: string
  readonly rateUnit: string
}

/** Progress on stderr: a bar redrawn in place on a TTY, a line every tenth elsewhere (long inputs only). */
export const stderrProgress = (labels: ProgressLabels, stream: NodeJS.WriteStream = process.stderr) => {
  const started = Date.now()
  let lastDraw = 0
  let lastDecile = -1
  let drawn = false
  const rate = (done: number) => done / Math.max(1e-3, (Date.now() - started) / 1000)
  const text = (done: number, total: number) => {
    const r = rate(done)
    const eta = r > 0 ? Math.round((total - done) / r) : NaN
    return `${labels.what} ${done}/${total} ${labels.unit}, ${r.toFixed(1)} ${labels.rateUnit}${done < total && Number.isFinite(eta) ? `, ETA ${eta}s` : ""}`
  }
  return {
    update: (done: number, total: number) => {
      if (stream.isTTY) {
        const now = Date.now()
        if (now - lastDraw < 100 && done < total) return
        lastDraw = now
        const width = 24
        const filled = Math.round((done / Math.max(1, total)) * width)
        stream.write(`\r\x1b[2K${"█".repeat(filled)}${"░".repeat(width - filled)} ${text(done, total)}`)
        drawn = true
      } else if (total >= 1024) {
        const decile = Math.floor((10 * done) / total)
        if (decile > lastDecile) {
          lastDecile = decile
          stream.write(`${text(done, total)}\n`)
        }
      }
    },
    close: () => {
      if (drawn) stream.write("\r\x1b[2K")
      drawn = false
    }
  }
}
