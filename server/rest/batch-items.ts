import { Readable } from "node:stream";
import { TRPCError } from "@trpc/server";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ZodError } from "zod";
import type { AppendItemsResult } from "../../shared/schemas.js";
import type { Deps } from "../deps.js";
import { DomainError, ItemInputError } from "../errors.js";
import { nextTurn } from "../next-turn.js";
import { describeZodError, toTRPCError } from "../trpc/errors.js";
import type { RestCall, RouterInput } from "./context.js";
import { readNdjson } from "./ndjson.js";

const NDJSON_TYPE = /^application\/(x-)?ndjson\b/i;

/** A chunk is written once it holds this many bytes of items, even if it has fewer items than the chunk size. */
const MAX_CHUNK_BYTES = 8 * 1024 * 1024;

/** Lines parsed between two turns of the event loop. */
const PARSE_SLICE = 250;

/** Chunks handed to `batch.appendItems` and not yet answered, at most. */
const MAX_CHUNKS_IN_FLIGHT = 2;

/**
 * `POST /api/v3/batches/{batchId}/items`: reads the NDJSON body a chunk of items at a time and
 * hands each chunk to `batch.appendItems`. Up to two chunks are in flight while the next is read
 * and parsed: `appendItems` turns a chunk into rows before it takes the batch's row lock, so that
 * CPU work overlaps the previous chunk's commit, and the lock still writes one chunk at a time. At
 * most three chunks are held (each bounded by items and bytes), and a slow database still slows
 * the reading down: that is the backpressure. Errors name the line they come from; a chunk after
 * a failing one may already be written (items are idempotent by index, so a retry of the whole
 * stream is always safe).
 */
export async function streamBatchItems(
  deps: Deps,
  req: FastifyRequest<{ Params: { batchId: string } }>,
  reply: FastifyReply,
  call: RestCall,
) {
  await call.who();
  if (!NDJSON_TYPE.test(req.headers["content-type"] ?? "")) {
    throw new TRPCError({
      code: "UNSUPPORTED_MEDIA_TYPE",
      message: "Content-Type must be application/x-ndjson or application/ndjson",
    });
  }
  const { batchId } = req.params;
  // Leaving the loop early (the batch is sealed) must not destroy the request, which would cut
  // the connection before the answer: http/drain-body.ts reads the rest once it is sent.
  const body = req.body instanceof Readable ? req.body.iterator({ destroyOnReturn: false }) : emptyBody();
  const chunkSize = deps.config.limits.ingestChunkItems;

  let accepted = 0;
  let deduplicated = 0;
  /** The answer that tells most: a sealing one, else the one with the most items enqueued. */
  let last: AppendItemsResult | undefined;
  let items: unknown[] = [];
  let lines: number[] = [];
  let bytes = 0;
  // Chunks being written, oldest first; each catches its own failure at once (never an unhandled
  // rejection), and the first failure in stream order is the one answered.
  const inflight: Promise<unknown>[] = [];
  const failures: unknown[] = [];

  const write = async (chunk: unknown[], chunkLines: number[], position: number) => {
    try {
      const result = await call.trpc.batch.appendItems({
        batchId,
        items: chunk as RouterInput["batch"]["appendItems"]["items"],
      });
      accepted += result.itemsAccepted;
      deduplicated += result.itemsDeduplicated;
      if (!last || result.sealed || (!last.sealed && result.enqueuedCount! > last.enqueuedCount!)) last = result;
    } catch (err) {
      failures[position] ??= withLineNumber(err, chunkLines);
    }
  };
  let submitted = 0;
  const submit = () => {
    inflight.push(write(items, lines, submitted++));
    items = [];
    lines = [];
    bytes = 0;
  };
  /** Waits until fewer than `limit` chunks are in flight; rethrows the first failure. */
  const settle = async (limit: number) => {
    while (inflight.length >= limit) await inflight.shift();
    const failure = failures.find((f) => f !== undefined);
    if (failure !== undefined) throw failure;
  };

  try {
    for await (const line of readNdjson(body, deps.config.limits.maxItemBytes)) {
      // Parsing a chunk is CPU work on the event loop the chunk being written needs for its round
      // trips to the database: let those through every few hundred lines.
      if (lines.length % PARSE_SLICE === PARSE_SLICE - 1) await nextTurn();
      items.push(line.value);
      lines.push(line.lineNumber);
      bytes += line.bytes;
      if (items.length >= chunkSize || bytes >= MAX_CHUNK_BYTES) {
        await settle(MAX_CHUNKS_IN_FLIGHT);
        // Sealed (now or by an earlier request): the rest of the stream cannot change anything.
        if (last?.sealed) break;
        submit();
      }
    }
    await settle(1);
    if (!last?.sealed && (items.length > 0 || last === undefined)) {
      submit();
      await settle(1);
    }
  } catch (err) {
    // A bad line while chunks are in flight: those earlier chunks are answered for first.
    await Promise.all(inflight);
    throw failures.find((f) => f !== undefined) ?? err;
  }

  const result = last!;
  return reply.status(200).send(
    result.sealed
      ? { id: result.id, itemsAccepted: accepted, itemsDeduplicated: deduplicated, sealed: true }
      : {
          id: result.id,
          itemsAccepted: accepted,
          itemsDeduplicated: deduplicated,
          sealed: false,
          enqueuedCount: result.enqueuedCount,
          expectedCount: result.expectedCount,
        },
  );
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

/** Rewrites an error about "the k-th item of this chunk" to name the body line it came from. */
function withLineNumber(failure: unknown, lines: number[]): unknown {
  const err = failure instanceof DomainError ? toTRPCError(failure) : failure;
  if (!(err instanceof TRPCError)) return err;
  const cause = err.cause;
  if (cause instanceof ItemInputError) {
    return new TRPCError({
      code: err.code,
      message: `Invalid item at line ${lines[cause.position]}: ${cause.message}`,
    });
  }
  if (cause instanceof ZodError) {
    const first = cause.issues[0];
    const position = first?.path[0] === "items" ? first.path[1] : undefined;
    if (typeof position === "number") {
      const issues = cause.issues.filter((i) => i.path[0] === "items" && i.path[1] === position);
      const detail = describeZodError(new ZodError(issues.map((i) => ({ ...i, path: i.path.slice(2) }))));
      return new TRPCError({ code: "BAD_REQUEST", message: `Invalid item at line ${lines[position]}: ${detail}` });
    }
  }
  return err;
}
