/**
 * @memorize/metrics: metric plugins (per run) and law plugins (over an
 * experiment), plus the pure functions they are made of. The property-test
 * kit is `@memorize/metrics/testing`.
 */
import { memorizationPlugin } from "./metrics/memorization.ts"
import { membershipPlugin } from "./metrics/membership.ts"
import { extractionPlugin } from "./metrics/extraction.ts"
import { rarityPlugin } from "./metrics/rarity.ts"
import { lossPlugin } from "./metrics/loss.ts"
import { compressionPlugin } from "./metrics/compression.ts"
import { capacityPlugin } from "./laws/capacity.ts"
import { doubleDescentPlugin } from "./laws/double-descent.ts"
import { membershipF1Plugin } from "./laws/membership-f1.ts"

export const plugins = [
  memorizationPlugin,
  membershipPlugin,
  extractionPlugin,
  rarityPlugin,
  lossPlugin,
  compressionPlugin,
  capacityPlugin,
  doubleDescentPlugin,
  membershipF1Plugin
] as const

export {
  memorizationPlugin,
  membershipPlugin,
  extractionPlugin,
  rarityPlugin,
  lossPlugin,
  compressionPlugin,
  capacityPlugin,
  doubleDescentPlugin,
  membershipF1Plugin
}
export { measureMemorization } from "./metrics/memorization.ts"
export { membershipAttack, type MembershipStats } from "./metrics/membership.ts"
export { exactSuffixMatches } from "./metrics/extraction.ts"
export { lossSummary } from "./metrics/loss.ts"
export { measureCompression, CompressionConfig } from "./metrics/compression.ts"
export * as compression from "./compression/index.ts"
export { totalMemorization, unintendedMemorization } from "./metrics/memorization-core.ts"
export { perSampleMemorization, type PerSample } from "./metrics/per-sample.ts"
export { capacityGroups, fitCapacity } from "./laws/capacity.ts"
export { CapacityFitSchema, type CapacityFit, type CapacityGroup } from "./laws/capacity-fit.ts"
export { saturatingFit, type SaturatingFit } from "./laws/saturating.ts"
export { fitDoubleDescent } from "./laws/double-descent.ts"
export { fitMembershipF1, lawFromJson, loadLaw, predict } from "./laws/membership-f1.ts"
export * from "./laws/f1-law.ts"
export { groupKey, groupLabel } from "./laws/results.ts"
export * from "./numerics/stats.ts"
export * from "./numerics/roc.ts"
export * from "./numerics/linreg.ts"
export * from "./numerics/levenberg-marquardt.ts"
