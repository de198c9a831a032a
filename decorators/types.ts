import type { Change } from '../lib/ports';

/** An entity class as the decorators take it: a constructor of `E` (abstract classes too). */
export type EntityConstructor<E = object> = abstract new (...args: never[]) => E;

/**
 * The instances of an entity argument: `E` for a class, `unknown` for a value typed only as `Function` (an
 * `EntityClass`), which the compiler cannot check; start-up checks it instead.
 */
export type InstanceOf<C> = C extends abstract new (...args: never[]) => infer E ? E : unknown;

/** The data properties of `E` that `fields` may name: methods are left out, relations and columns kept. */
export type FieldOf<E> = {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  [K in keyof E]-?: E[K] extends Function ? never : K;
}[keyof E] & string;

type Scalar = string | number | bigint | boolean | symbol | null | undefined;

/** To-many relations: arrays of entities, and MikroORM's `Collection` (iterable, with `getItems()`). */
type ToMany = ReadonlyArray<object> | Iterable<object> | { getItems(): unknown };

/** What a reference holds: MikroORM's `Ref<T>`/`Reference<T>` unwrap to `T`. */
type Unwrapped<R> = R extends { unwrap(): infer T } ? T : R;

/**
 * The primary key part of a related entity: `id` when it has one (the common case, and what both ORMs name
 * by default); otherwise every scalar property, optional, since the type system cannot tell which is the key.
 */
export type KeyOf<R> = 'id' extends keyof R
  ? { id: Exclude<R['id' & keyof R], undefined> }
  : { [K in keyof R as R[K] extends Scalar ? K : never]?: R[K] };

/** How one property travels in a snapshot (JSON): dates as ISO strings, bigints as strings, buffers as base64. */
type SnapshotValue<V> =
  V extends Date ? string :
  V extends bigint ? string :
  V extends Buffer ? string :
  V extends Scalar ? V :
  V extends readonly unknown[] ? V :
  V extends object ? KeyOf<NonNullable<Unwrapped<V>>> :
  V;

/**
 * What a `@SubjectIdsFrom` method receives for a removed row: the row's column values as they were before the
 * removal, and each to-one relation as an object holding the related row's primary key, on both ORMs
 * (`{ product: { id: 2 } }`, so `variant.product.id` works). To-many relations, `@RelationId` lists and
 * getters are not columns: they are absent at runtime even where the type shows them.
 */
export type Snapshot<E> = {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  [K in keyof E as E[K] extends Function ? never : E[K] extends ToMany ? never : K]:
    null extends E[K] ? SnapshotValue<NonNullable<E[K]>> | null : SnapshotValue<E[K]>;
};

/** What a `@SubjectIdsFrom` method may return: an id, ids, or nothing (sync or async). */
export type SubjectIds = string | number | bigint | ReadonlyArray<string | number | bigint> | null | undefined | void;

/**
 * A method signature on purpose: its parameter is compared both ways, so a mapper may declare `E`,
 * `Snapshot<E>` or `E | Snapshot<E>` (a removal passes the snapshot), while a mapper of another entity is refused.
 */
interface MapperShape<E> {
  map(entity: E | Snapshot<E>, change: Change): SubjectIds | Promise<SubjectIds>;
}

/** The signature a `@SubjectIdsFrom(E)` method must have. */
export type SubjectIdsMapper<E> = MapperShape<E>['map'];
