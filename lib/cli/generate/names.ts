/** Name forms the generator needs: `line_item` → `LineItem` / `lineItem`, `OrderToApiSync` → `order-to-api-sync`. */
export function pascalCase(name: string): string {
  return name.split(/[-_\s]+/).filter(Boolean).map((part) => part[0].toUpperCase() + part.slice(1)).join('');
}

export function camelCase(name: string): string {
  const pascal = pascalCase(name);
  return pascal[0].toLowerCase() + pascal.slice(1);
}

export function kebabCase(name: string): string {
  return pascalCase(name)
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
}

/** `2025-11-28T10:42:01Z` → `20251128104201`, MikroORM's migration stamp. */
export function compactStamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}
