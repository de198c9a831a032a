import { DATABASES } from '../database';
import { mikroOrmWorld } from './mikro-orm';
import { typeOrmWorld } from './typeorm';
import type { WorldSpec } from './world';

export type { ShopCustomer, ShopOrder, ShopWorld, WorldSpec } from './world';

/** Every ORM on every database: the conformance suite runs each guarantee against each of these. */
export const WORLDS: WorldSpec[] = DATABASES.flatMap((kind) => [typeOrmWorld(kind), mikroOrmWorld(kind)]);
