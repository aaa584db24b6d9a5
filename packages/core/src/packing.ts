/**
 * Many-model packing: a trainer that can train K models of one shape in one
 * set of GPU buffers gets the sweep's runs in chunks (the interpreter cuts
 * them: `packChunks`), one run per fiber, and each run's trainer call meets
 * the others of its chunk here. Runs stay separate everywhere else (folder,
 * claim, result.json or error.json), so a chunk cannot know in advance which
 * of its runs will train: some are complete, held by another process, or fail
 * building their dataset. Hence a rendezvous: wait until every run of the
 * chunk has gathered or left, then group those that gathered.
 */
import { Context, Deferred, Effect, Exit, Scope } from "effect"

export interface PackGroup<S> {
  /** One value per group, made once (the trainer's packed buffers, say). */
  readonly shared: S
  /** This run's index in its group, 0..size-1, in plan order. */
  readonly index: number
  /** Members in the group. */
  readonly size: number
}

export interface PackingShape {
  /**
   * Joins this chunk's rendezvous under `key` (the trainer's exact pack key:
   * shape, precision, batch...). Waits until every run of the chunk has either
   * called gather or left (its run ended, or its main training finished
   * without gathering). Then the runs that gathered under the same key form
   * one group; its `shared` is made once by `make(size)` of the group's first
   * member (plan order), in a scope owned by the rendezvous that closes when
   * the last member's scope (the Scope gather runs in) has closed. A failure
   * of `make` fails gather for every member of that group. Groups of
   * different keys are independent. A run interrupted while waiting counts as
   * left.
   */
  readonly gather: <S, E, R>(key: string, make: (size: number) => Effect.Effect<S, E, R | Scope.Scope>) => Effect.Effect<PackGroup<S>, E, R | Scope.Scope>
}

/** Provided by the interpreter around the main training call of a packed run (never a reference model's). */
export class Packing extends Context.Service<Packing, PackingShape>()("memorize/Packing") {}

/** A group of one: `make(1)` in the caller's own scope. */
const alone = <S, E, R>(make: (size: number) => Effect.Effect<S, E, R | Scope.Scope>): Effect.Effect<PackGroup<S>, E, R | Scope.Scope> =>
  Effect.map(make(1), (shared) => ({ shared, index: 0, size: 1 }))

/** A trainer's gather: through the run's Packing where core provides one, else a group of one. */
export const gatherPack = <S, E, R>(
  key: string,
  make: (size: number) => Effect.Effect<S, E, R | Scope.Scope>
): Effect.Effect<PackGroup<S>, E, R | Scope.Scope> =>
  Effect.flatMap(Effect.serviceOption(Packing), (packing) => (packing._tag === "Some" ? packing.value.gather(key, make) : alone(make)))

/** One run's place in a chunk's rendezvous. */
export interface PackMember {
  /** What the interpreter provides as `Packing` around this run's main training. */
  readonly packing: PackingShape
  /** Counts this run as left unless it already gathered or left: idempotent. */
  readonly leave: Effect.Effect<void>
}

interface Group {
  readonly size: number
  readonly scope: Scope.Closeable
  /** make's outcome; an Exit (never a failure of the Deferred) so members re-raise errors and defects alike. */
  readonly shared: Deferred.Deferred<Exit.Exit<unknown, unknown>>
  /** Members whose scope is still open. */
  open: number
}

interface Joined {
  readonly member: number
  readonly key: string
  /** The member's make with its services bound, so that the group's first member's make can run in a fiber of the group's own. */
  readonly make: (size: number, scope: Scope.Scope) => Effect.Effect<unknown, unknown>
  readonly placed: Deferred.Deferred<{ readonly group: Group; readonly index: number }>
  placement?: { readonly group: Group; readonly index: number }
}

/**
 * The rendezvous of one chunk of `size` runs; member i is the chunk's i-th
 * run in plan order. Its state is plain: it is only touched inside
 * synchronous steps of uninterruptible effects, which cannot interleave.
 */
export const makePackRendezvous = (size: number): Effect.Effect<ReadonlyArray<PackMember>> =>
  Effect.sync(() => {
    const undecided = new Set(Array.from({ length: size }, (_, i) => i))
    const joined: Array<Joined> = []

    // Runs once, when the last member decides. Placing is one synchronous
    // step, so a member withdrawing meanwhile is either in a group or in none.
    // make runs forked into the group's scope rather than in its first
    // member's fiber: that member may be interrupted after the groups formed,
    // and the others must not wait for a value nobody makes.
    const form = Effect.suspend(() => {
      const byKey = new Map<string, Array<Joined>>()
      for (const j of [...joined].sort((a, b) => a.member - b.member)) byKey.set(j.key, [...(byKey.get(j.key) ?? []), j])
      const groups = [...byKey.values()].map((members) => {
        const group: Group = { size: members.length, scope: Scope.makeUnsafe(), shared: Deferred.makeUnsafe(), open: members.length }
        members.forEach((j, index) => {
          j.placement = { group, index }
          Deferred.doneUnsafe(j.placed, Exit.succeed(j.placement))
        })
        return { group, first: members[0]! }
      })
      return Effect.forEach(
        groups,
        ({ group, first }) =>
          Effect.forkIn(
            Effect.flatMap(Effect.exit(first.make(group.size, group.scope)), (exit) => Deferred.succeed(group.shared, exit)),
            group.scope
          ),
        { discard: true }
      )
    })

    const decide = (member: number) => Effect.suspend(() => (undecided.delete(member) && undecided.size === 0 ? form : Effect.void))

    // Interrupted (or its scope closed) before the groups formed: it is no longer in any group.
    const withdraw = (j: Joined) =>
      Effect.sync(() => {
        if (j.placement === undefined && joined.includes(j)) joined.splice(joined.indexOf(j), 1)
      })

    // The member's scope closed: withdraw, or let go of its group; the last one out closes the group's scope.
    const release = (j: Joined) =>
      Effect.suspend(() => {
        if (j.placement === undefined) return withdraw(j)
        const group = j.placement.group
        group.open--
        return group.open === 0 ? Scope.close(group.scope, Exit.void) : Effect.void
      })

    return Array.from(
      { length: size },
      (_, member): PackMember => ({
        leave: Effect.uninterruptible(decide(member)),
        packing: {
          gather: <S, E, R>(key: string, make: (size: number) => Effect.Effect<S, E, R | Scope.Scope>) =>
            Effect.uninterruptibleMask((restore) =>
              Effect.gen(function* () {
                // Gathering twice, or after leaving: the chunk has formed (or may) without it, and training alone is always correct.
                if (!undecided.has(member)) return yield* restore(alone(make))
                const services = yield* Effect.context<R | Scope.Scope>()
                const j: Joined = {
                  member,
                  key,
                  make: (n, scope) => Effect.provideContext(Scope.provide(make(n), scope), services),
                  placed: Deferred.makeUnsafe()
                }
                joined.push(j)
                yield* Effect.addFinalizer(() => release(j))
                yield* decide(member)
                const { group, index } = yield* restore(Deferred.await(j.placed)).pipe(Effect.onInterrupt(() => withdraw(j)))
                // The group's value was made by the same key's make, so it is this caller's S and E
                // (one Deferred type serves every key of the chunk, hence the cast).
                const shared = yield* restore(Effect.flatten(Deferred.await(group.shared) as Effect.Effect<Exit.Exit<S, E>>))
                return { shared, index, size: group.size }
              })
            )
        }
      })
    )
  })

/**
 * Cuts plans into packs: bucketed by `keyOf` (buckets in order of first
 * appearance, plan order kept inside), each bucket cut into chunks of at most
 * `sizeOf(its first plan)`.
 */
export const packChunks = <A>(items: ReadonlyArray<A>, keyOf: (item: A) => string, sizeOf: (item: A) => number): Array<Array<A>> => {
  const buckets = new Map<string, Array<A>>()
  for (const item of items) {
    const key = keyOf(item)
    const bucket = buckets.get(key)
    if (bucket) bucket.push(item)
    else buckets.set(key, [item])
  }
  const chunks: Array<Array<A>> = []
  for (const bucket of buckets.values()) {
    const raw = sizeOf(bucket[0]!)
    const size = Number.isFinite(raw) && raw >= 1 ? Math.floor(raw) : 1
    for (let i = 0; i < bucket.length; i += size) chunks.push(bucket.slice(i, i + size))
  }
  return chunks
}
