import pg from "pg";

/** One table of a schema: its rows' bytes (heap with TOAST, free-space and visibility maps) and its indexes'. */
export interface TableSize {
  table: string;
  heapBytes: number;
  indexBytes: number;
  indexes: { name: string; bytes: number }[];
}

/**
 * Every table of `schema` (partitions included, each counted once) with its index sizes, read
 * as `pg_table_size` and `pg_indexes_size` report them now (their sum is `pg_total_relation_size`).
 */
export async function schemaSizes(databaseUrl: string, schema: string): Promise<TableSize[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ oid: number; name: string; heap: string; indexes: string }>(
      `select c.oid, c.relname as name, pg_table_size(c.oid) as heap, pg_indexes_size(c.oid) as indexes
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and c.relkind = 'r'
       order by pg_total_relation_size(c.oid) desc`,
      [schema],
    );
    const { rows: indexes } = await client.query<{ table_oid: number; name: string; bytes: string }>(
      `select i.indrelid as table_oid, c.relname as name, pg_relation_size(c.oid) as bytes
       from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1
       order by pg_relation_size(c.oid) desc`,
      [schema],
    );
    return tables.map((t) => ({
      table: t.name,
      heapBytes: Number(t.heap),
      indexBytes: Number(t.indexes),
      indexes: indexes.filter((i) => i.table_oid === t.oid).map((i) => ({ name: i.name, bytes: Number(i.bytes) })),
    }));
  } finally {
    await client.end();
  }
}

export const totalBytes = (tables: TableSize[]) => tables.reduce((sum, t) => sum + t.heapBytes + t.indexBytes, 0);
