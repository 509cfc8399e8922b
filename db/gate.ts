import type { DatabaseConnection, Dialect, Driver, Kysely, QueryCompiler, TransactionSettings } from "kysely";

/** What a statement gets once the gate is shut: the server is shutting down, retry elsewhere. */
export class DatabaseClosingError extends Error {
  readonly code = "SALVO_CLOSING";
  constructor() {
    super("The server is shutting down; retry the request");
  }
}

/**
 * A switch in front of the database: once `shut()`, no connection is handed out, no statement
 * starts and no transaction commits; only rollbacks pass. A shutdown shuts it when the grace period
 * ends, so a request cut then fails its next statement or its COMMIT, its transaction is rolled
 * back, and nothing it did is committed after its client saw the connection drop.
 */
export class StatementGate {
  #shut = false;
  get isShut() {
    return this.#shut;
  }
  shut() {
    this.#shut = true;
  }
  check() {
    if (this.#shut) throw new DatabaseClosingError();
  }
}

/** `dialect` with every connection, statement and commit going through `gate`. */
export function gatedDialect(dialect: Dialect, gate: StatementGate): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new GatedDriver(dialect.createDriver(), gate),
    createIntrospector: (db: Kysely<unknown>) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}

class GatedConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly gate: StatementGate,
  ) {}

  executeQuery: DatabaseConnection["executeQuery"] = (query, options) => {
    // A transaction body's own `rollback()` must still get through.
    if (!/^\s*rollback\b/i.test(query.sql)) this.gate.check();
    return this.inner.executeQuery(query, options);
  };

  streamQuery: DatabaseConnection["streamQuery"] = (query, chunkSize, options) => {
    this.gate.check();
    return this.inner.streamQuery(query, chunkSize, options);
  };
}

const innerOf = (connection: DatabaseConnection) =>
  connection instanceof GatedConnection ? connection.inner : connection;

class GatedDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly gate: StatementGate,
  ) {}

  init() {
    return this.inner.init();
  }
  async acquireConnection() {
    this.gate.check();
    return new GatedConnection(await this.inner.acquireConnection(), this.gate);
  }
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    this.gate.check();
    return this.inner.beginTransaction(innerOf(connection), settings);
  }
  async commitTransaction(connection: DatabaseConnection) {
    // Refused: Kysely rolls the transaction back and the caller gets the error.
    this.gate.check();
    return this.inner.commitTransaction(innerOf(connection));
  }
  rollbackTransaction(connection: DatabaseConnection) {
    return this.inner.rollbackTransaction(innerOf(connection));
  }
  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler["compileQuery"]) {
    this.gate.check();
    return this.inner.savepoint!(innerOf(connection), name, compile);
  }
  async rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler["compileQuery"]) {
    return this.inner.rollbackToSavepoint!(innerOf(connection), name, compile);
  }
  async releaseSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler["compileQuery"]) {
    this.gate.check();
    return this.inner.releaseSavepoint!(innerOf(connection), name, compile);
  }
  releaseConnection(connection: DatabaseConnection) {
    return this.inner.releaseConnection(innerOf(connection));
  }
  destroy() {
    return this.inner.destroy();
  }
}
