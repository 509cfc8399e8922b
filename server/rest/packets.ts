import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Run } from "../../shared/schemas.js";
import type { Caller } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { badRequest, notFound } from "../errors.js";
import { loadPacket, STORE_TYPE, toJsonForm } from "../packets/codec.js";
import { getPacket, MAX_PACKET_PATH_LENGTH, putPacket } from "../packets/store.js";
import { keyIsLive, type PacketGrant, type PacketTarget, signPacketToken, verifyPacketToken } from "../packets/urls.js";
import { restHandler } from "./context.js";
import { errorBody } from "./errors.js";

type WildcardParams = { Params: { "*": string } };
type TokenQuery = { Querystring: { token?: string } };
type RunPacketParams = { Params: { runId: string; field: string } };

/**
 * Where signed URLs point: the configured public origin, else the address this server listens on
 * (config.ts allows that only on a loopback HOST). Never the request's Host header: whoever sends
 * the request would choose where the URL, and the data uploaded to it, goes.
 */
function origin(deps: Deps, req: FastifyRequest): string {
  return deps.config.packets.publicUrl ?? req.server.listeningOrigin;
}

/**
 * A presigned URL for one method on one target of the caller's environment, valid for the
 * configured TTL and for as long as the caller's key is not revoked.
 */
export function packetUrl(
  deps: Deps,
  req: FastifyRequest,
  caller: Caller,
  method: PacketGrant["method"],
  target: PacketTarget,
): string {
  const expiresAt = Math.floor(Date.now() / 1000) + deps.config.packets.urlTtlSeconds;
  const grant = { environmentId: caller.environment.id, keyId: caller.keyId, method, expiresAt, target };
  // In the query string: a token is longer than the router allows a path parameter to be.
  return `${origin(deps, req)}/packets?token=${signPacketToken(deps.vault, grant)}`;
}

/**
 * What a packet read sends besides the bytes: a stored packet may be anything (text/html, SVG...),
 * and this is the API's origin. A browser must neither sniff it, nor render it as a page here,
 * nor run its scripts: it is a download, in a sandbox without any origin.
 */
const INERT_HEADERS = {
  "x-content-type-options": "nosniff",
  "content-disposition": "attachment",
  "content-security-policy": "sandbox; default-src 'none'; frame-ancestors 'none'",
};

/**
 * The presigned read URLs `GET /api/v3/runs/{id}` offers. An offloaded payload gets one instead of
 * an inline value, as on Trigger.dev. A SuperJSON payload or output whose plain-JSON form loses
 * types (Dates, Maps, BigInts...) gets one besides its inline value: the SDK then fetches it and
 * parses it with SuperJSON, so TypeScript callers get the exact value back.
 */
export function runPacketLinks(deps: Deps, req: FastifyRequest, caller: Caller, run: Run) {
  const link = (field: "payload" | "output") =>
    packetUrl(deps, req, caller, "GET", { kind: "run", runId: run.id, field });
  const payloadInexact =
    run.payloadType === STORE_TYPE || (run.payload !== undefined && !toJsonForm(run.payload).exact);
  const outputInexact = run.output !== undefined && !toJsonForm(run.output).exact;
  return {
    ...(payloadInexact ? { payloadPresignedUrl: link("payload") } : {}),
    ...(outputInexact ? { outputPresignedUrl: link("output") } : {}),
  };
}

function packetPath(req: FastifyRequest<WildcardParams>): string {
  const path = req.params["*"];
  if (!path) throw badRequest("A packet path is required, e.g. /api/v2/packets/trigger%2Fpacket_1%2Fpayload.json");
  if (path.length > MAX_PACKET_PATH_LENGTH)
    throw badRequest(`A packet path is at most ${MAX_PACKET_PATH_LENGTH} characters`);
  if (path.includes("\0")) throw badRequest("A packet path must not contain NUL characters");
  return path;
}

/**
 * Large payloads (the SDK offloads any serialized payload of 128 KiB or more):
 * - `PUT /api/v2/packets/{path}` (secret key, empty body) → `{presignedUrl, storagePath}`;
 * - `PUT {presignedUrl}` with the bytes, no Authorization: the signed URL is the credential;
 * - `GET /api/v1/packets/{path}` → `{presignedUrl}` to read a packet back;
 * - `GET /api/v1/runs/{id}/packets/{payload|output}` → `{presignedUrl}` for a run's packet;
 * - `GET {presignedUrl}` → the bytes, with the Content-Type they were uploaded with.
 */
export function registerPacketRoutes(app: FastifyInstance, deps: Deps) {
  app.put<WildcardParams>(
    "/api/v2/packets/*",
    restHandler<WildcardParams>(deps, async (req, reply, call) => {
      const caller = await call.who();
      const path = packetPath(req);
      const presignedUrl = packetUrl(deps, req, caller, "PUT", { kind: "packet", path });
      return reply.send({ presignedUrl, storagePath: path });
    }),
  );

  app.get<WildcardParams>(
    "/api/v1/packets/*",
    restHandler<WildcardParams>(deps, async (req, reply, call) => {
      const caller = await call.who();
      const path = packetPath(req);
      if (!(await getPacket(deps.db, caller.environment.id, path))) throw notFound(`Packet ${path} not found`);
      return reply.send({ presignedUrl: packetUrl(deps, req, caller, "GET", { kind: "packet", path }) });
    }),
  );

  app.get<RunPacketParams>(
    "/api/v1/runs/:runId/packets/:field",
    restHandler<RunPacketParams>(deps, async (req, reply, call) => {
      const { runId, field } = req.params;
      if (field !== "payload" && field !== "output") throw badRequest('field must be "payload" or "output"');
      const run = await call.trpc.run.get({ runId }); // checks a public token's scopes
      if (run[field] === undefined) throw notFound(`Run ${runId} has no ${field}`);
      const caller = await call.reader();
      return reply.send({ presignedUrl: packetUrl(deps, req, caller, "GET", { kind: "run", runId: run.id, field }) });
    }),
  );

  // The signed URLs themselves. Their own scope keeps upload bodies as raw bytes whatever their
  // Content-Type (the SDK sends the payload's type, e.g. application/super+json).
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: deps.config.packets.maxBytes },
      (_req, body, done) => done(null, body),
    );

    scope.put<TokenQuery>("/packets", async (req, reply) => {
      const check = verifyPacketToken(deps.vault, req.query.token ?? "", "PUT");
      if (!check.ok) return refuse(reply, 403, check.reason);
      if (!(await keyIsLive(deps.db, check.grant))) return refuse(reply, 403, REVOKED);
      const { environmentId, target } = check.grant;
      if (target.kind !== "packet") return refuse(reply, 403, "This URL cannot be written to");
      const data = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const contentType = req.headers["content-type"]?.split(";")[0]?.trim() || "application/octet-stream";
      await putPacket(deps.db, environmentId, target.path, contentType, data);
      return reply.status(200).send();
    });

    scope.get<TokenQuery>("/packets", async (req, reply) => {
      const check = verifyPacketToken(deps.vault, req.query.token ?? "", "GET");
      if (!check.ok) return refuse(reply, 403, check.reason);
      if (!(await keyIsLive(deps.db, check.grant))) return refuse(reply, 403, REVOKED);
      const { environmentId, target } = check.grant;
      const packet =
        target.kind === "packet"
          ? await getPacket(deps.db, environmentId, target.path)
          : await runPacket(deps, environmentId, target.runId, target.field);
      if (!packet) return refuse(reply, 404, "Packet not found");
      // Browsers fetch these too (the SDK's runs.retrieve in a web app).
      return reply
        .header("access-control-allow-origin", "*")
        .headers(INERT_HEADERS)
        .type(packet.contentType)
        .send(packet.data);
    });
  });
}

/** A run's payload or output as bytes and type, following a store reference. */
async function runPacket(deps: Deps, environmentId: string, runId: string, field: "payload" | "output") {
  const row = await deps.db
    .selectFrom("runs")
    .select(["payload", "payload_type", "output", "output_type"])
    .where("id", "=", runId)
    .where("environment_id", "=", environmentId)
    .executeTakeFirst();
  if (!row) return undefined;
  const stored =
    field === "payload" ? { data: row.payload, type: row.payload_type } : { data: row.output, type: row.output_type };
  if (stored.data === null || stored.type === null) return undefined;
  const packet = await loadPacket(deps.db, environmentId, { data: stored.data, type: stored.type });
  return { contentType: packet.type, data: Buffer.from(packet.data ?? "", "utf8") };
}

const REVOKED = "The key this packet URL was issued to has been revoked";

function refuse(reply: FastifyReply, status: number, message: string) {
  return reply.status(status).header("x-should-retry", "false").send(errorBody(message));
}
