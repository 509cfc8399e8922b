import { createHash } from "node:crypto";
import pg from "pg";
import { COPY_MARK, copyFromStdin } from "./copy-rows.js";

/**
 * Marks a hot statement to be prepared once per connection and then only bound and executed:
 * Postgres skips parsing it and, once a generic plan is chosen, planning it (a large share of a
 * short statement such as the worker's claim). Kysely sends plain text, so the pool's client recognises the mark.
 */
export const PREPARED = "/* prepared */ ";

/**
 * Every statement name this process has prepared. Each connection keeps its prepared statements
 * for its life, so this set must stay small: a marked statement's text may not vary with its
 * input (lists travel as array or JSON parameters). Tests read it to hold that.
 */
export const preparedNames = new Set<string>();

/**
 * A node-postgres client that names (so prepares) statements that start with `PREPARED`, and
 * streams the data of statements that start with `COPY_MARK` (db/copy-rows.ts).
 */
export class PreparingClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: pg's query overloads cannot be restated one by one; this forwards every form unchanged but one.
  override query(config: any, values?: any, callback?: any): any {
    if (typeof config === "string" && config.startsWith(PREPARED)) {
      // Named by its text: one text, one name, however many calls or connections.
      const name = `salvo_${createHash("sha1").update(config).digest("hex")}`;
      preparedNames.add(name);
      return this.dropIfUnanswered(super.query({ name, text: config, values }, callback));
    }
    if (typeof config === "string" && config.startsWith(COPY_MARK) && callback === undefined) {
      return this.dropIfUnanswered(copyFromStdin(this, config, String(values?.[0] ?? "")));
    }
    return this.dropIfUnanswered(super.query(config, values, callback));
  }

  /**
   * A statement that got no answer within `query_timeout` (the server is frozen or cut off; a slow
   * statement is ended by the server's own `statement_timeout` first) leaves the connection waiting
   * for that answer, and every later statement on it would queue behind. Its socket is closed, so
   * the pool drops it, and Postgres rolls back whatever transaction it had open when it sees the close.
   */
  // biome-ignore lint/suspicious/noExplicitAny: forwards pg's untyped result (a promise, or undefined with a callback).
  private dropIfUnanswered(result: any): any {
    if (!(result instanceof Promise)) return result;
    return result.catch((err: unknown) => {
      if (err instanceof Error && err.message === "Query read timeout") this.connection.stream.destroy();
      throw err;
    });
  }
}
