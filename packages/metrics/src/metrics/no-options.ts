/**
 * Config schema of a plugin without options. In effect 4.1 an empty
 * `Schema.Struct({})` accepts any object even with onExcessProperty "error",
 * so a typo in the spec would pass silently; this check names the keys.
 */
import { Schema } from "effect"

export const NoOptions = Schema.Struct({}).check(
  Schema.makeFilter((o: object) => (Object.keys(o).length === 0 ? true : `unknown key(s): ${Object.keys(o).join(", ")} (this plugin takes no options)`))
)
