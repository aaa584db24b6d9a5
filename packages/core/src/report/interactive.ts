/**
 * The live layer of report.html: the vega runtime, inlined (the report is one
 * file that opens without network), and a small script that replaces each
 * static SVG with a live view of the same chart, with tooltips and the
 * series toggles chart-frame.ts adds. Without JavaScript the static SVG stays.
 */
import { Effect, FileSystem } from "effect"
import { createRequire } from "node:module"
import * as NodePath from "node:path"

/** vega's browser build, from the installed `vega` package. */
export const vegaRuntime = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const file = yield* Effect.try({
    // `vega` exports only its module entry; the browser build sits beside it.
    try: () => NodePath.join(NodePath.dirname(createRequire(import.meta.url).resolve("vega")), "vega.min.js"),
    catch: (e) => new Error(`the vega package cannot be found: ${(e as Error).message}`)
  })
  const text = yield* fs.readFileString(file).pipe(Effect.mapError((e) => new Error(`cannot read ${file}: ${e.message}`)))
  // Inlined in a <script>: a closing tag inside would end it early.
  if (/<\/script/i.test(text)) return yield* Effect.fail(new Error(`${file} contains "</script" and cannot be inlined`))
  return text
})

/** JSON that can sit inside <script type="application/json"> (no "</script>", no "<!--"). */
export const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, "\\u003c")

/** Starts the live charts; runs in the reader's browser (plain ES2017, no imports). */
export const bootstrapScript = `(function () {
  if (typeof vega === "undefined") return;
  var tip = document.createElement("div");
  tip.className = "tooltip";
  tip.hidden = true;
  document.body.appendChild(tip);
  function fmt(v) {
    if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString("en-US") : Number(v.toPrecision(4)).toString();
    return v === null || v === undefined ? "—" : String(v);
  }
  function show(handler, event, item, value) {
    if (value === null || value === undefined || value === "") { tip.hidden = true; return; }
    tip.textContent = "";
    // Vega-Lite's own helper fields (sort indices) are not the reader's data.
    var entries = typeof value === "object"
      ? Object.keys(value).filter(function (k) { return !/_sort_index$|^__/.test(k); }).map(function (k) { return [k, value[k]]; })
      : [["", value]];
    entries.forEach(function (e) {
      var row = document.createElement("div");
      if (e[0]) { var k = document.createElement("b"); k.textContent = e[0] + ": "; row.appendChild(k); }
      row.appendChild(document.createTextNode(fmt(e[1])));
      tip.appendChild(row);
    });
    tip.hidden = false;
    var x = event.clientX + 14, y = event.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 8) x = Math.max(8, event.clientX - w - 14);
    if (y + h > window.innerHeight - 8) y = Math.max(8, event.clientY - h - 14);
    tip.style.left = (x + window.scrollX) + "px";
    tip.style.top = (y + window.scrollY) + "px";
  }
  document.querySelectorAll("figure.chart[data-spec]").forEach(function (fig) {
    var source = document.getElementById(fig.getAttribute("data-spec"));
    var holder = fig.querySelector(".live");
    if (!source || !holder) return;
    var view = new vega.View(vega.parse(JSON.parse(source.textContent)), { renderer: "svg", container: holder, hover: true });
    view.tooltip(show);
    view.runAsync().then(function () {
      var still = fig.querySelector(".static");
      if (still) still.remove();
      fig.setAttribute("data-live", "true");
    }, function (err) {
      holder.remove();
      fig.setAttribute("data-live-error", String(err && err.message || err));
    });
  });
})();`
