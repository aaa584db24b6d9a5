/** The package version, from package.json (inlined by bundlers, read by Node). */
import pkg from "../package.json" with { type: "json" }

export const version: string = pkg.version
