/**
 * Baseline chat server for the wirechat benchmark.
 *
 * The same API subset as wirechat (auth.register, auth.me, rooms.create, rooms.join,
 * messages.send, messages.list, messages.onMessage with tracked ids and lastEventId
 * replay), written the way a TypeScript team would write it with the stock stack:
 * express + @trpc/server (express adapter) for HTTP, applyWSSHandler on `ws` for
 * WebSockets, better-sqlite3 for storage, zod for inputs, jsonwebtoken for auth.
 *
 * Environment: PORT (HTTP, default 3000), WS_PORT (default 3001), HOST (default
 * 127.0.0.1), DATA_DIR (default ./data), JWT_SECRET, ARGON2_TIME_COST,
 * ARGON2_MEMORY_COST.
 */
import { createSecretKey } from 'node:crypto';
import { EventEmitter, on } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';

import { initTRPC, tracked, TRPCError } from '@trpc/server';
import * as trpcExpress from '@trpc/server/adapters/express';
import { applyWSSHandler, type CreateWSSContextFnOptions } from '@trpc/server/adapters/ws';
import argon2 from 'argon2';
import Database from 'better-sqlite3';
import express from 'express';
import jwt from 'jsonwebtoken';
import { WebSocketServer } from 'ws';
import { z } from 'zod';

// ---------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------
const PORT = Number(process.env.PORT ?? 3000);
const WS_PORT = Number(process.env.WS_PORT ?? 3001);
const HOST = process.env.HOST ?? '127.0.0.1';
const DATA_DIR = process.env.DATA_DIR ?? path.resolve('data');
// A KeyObject rather than the raw string: jsonwebtoken 9 otherwise re-derives the key type
// (createPublicKey) on every verify, which is a known hot spot.
const JWT_KEY = createSecretKey(Buffer.from(process.env.JWT_SECRET ?? 'dev-secret-change-me'));
const JWT_EXPIRES_IN = 7 * 24 * 3600;
const ARGON2_TIME_COST = Number(process.env.ARGON2_TIME_COST ?? 2);
const ARGON2_MEMORY_COST = Number(process.env.ARGON2_MEMORY_COST ?? 19456);

// ---------------------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------------------
fs.mkdirSync(DATA_DIR, { recursive: true });
const db = new Database(path.join(DATA_DIR, 'baseline.sqlite'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('foreign_keys = ON');
db.exec(`
  CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS rooms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    is_private INTEGER NOT NULL DEFAULT 0,
    is_direct INTEGER NOT NULL DEFAULT 0,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    event_seq INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS room_members (
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    joined_at TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
  );
  CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    author_id INTEGER NOT NULL REFERENCES users(id),
    text TEXT NOT NULL,
    client_message_id TEXT,
    created_at TEXT NOT NULL,
    edited_at TEXT,
    deleted_at TEXT
  );
  CREATE INDEX IF NOT EXISTS messages_room_id ON messages(room_id, id);
  CREATE UNIQUE INDEX IF NOT EXISTS messages_author_cmid
    ON messages(author_id, client_message_id) WHERE client_message_id IS NOT NULL;
  CREATE TABLE IF NOT EXISTS room_events (
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages(id),
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (room_id, seq)
  );
`);

type UserRow = { id: number; username: string; display_name: string; password_hash: string; created_at: string };
type RoomRow = {
  id: number; name: string; is_private: number; is_direct: number; owner_id: number;
  created_at: string; member_count: number;
};
type MessageRow = {
  id: number; room_id: number; text: string; client_message_id: string | null;
  created_at: string; edited_at: string | null; deleted_at: string | null;
  author_id: number; username: string; display_name: string;
};

const stmt = {
  insertUser: db.prepare(
    'INSERT INTO users (username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)',
  ),
  userById: db.prepare<[number], UserRow>('SELECT * FROM users WHERE id = ?'),
  userByName: db.prepare<[string], UserRow>('SELECT * FROM users WHERE username = ?'),
  insertRoom: db.prepare(
    'INSERT INTO rooms (name, is_private, is_direct, owner_id, created_at) VALUES (?, ?, 0, ?, ?)',
  ),
  roomById: db.prepare<[number], RoomRow>(
    `SELECT r.*, (SELECT COUNT(*) FROM room_members m WHERE m.room_id = r.id) AS member_count
       FROM rooms r WHERE r.id = ?`,
  ),
  addMember: db.prepare(
    'INSERT OR IGNORE INTO room_members (room_id, user_id, joined_at) VALUES (?, ?, ?)',
  ),
  isMember: db.prepare<[number, number], { one: number }>(
    'SELECT 1 AS one FROM room_members WHERE room_id = ? AND user_id = ?',
  ),
  insertMessage: db.prepare(
    'INSERT INTO messages (room_id, author_id, text, client_message_id, created_at) VALUES (?, ?, ?, ?, ?)',
  ),
  messageById: db.prepare<[number], MessageRow>(
    `SELECT m.*, u.username, u.display_name FROM messages m JOIN users u ON u.id = m.author_id
      WHERE m.id = ?`,
  ),
  messageByClientId: db.prepare<[number, string], MessageRow>(
    `SELECT m.*, u.username, u.display_name FROM messages m JOIN users u ON u.id = m.author_id
      WHERE m.author_id = ? AND m.client_message_id = ?`,
  ),
  listMessages: db.prepare<[number, number, number], MessageRow>(
    `SELECT m.*, u.username, u.display_name FROM messages m JOIN users u ON u.id = m.author_id
      WHERE m.room_id = ? AND m.id < ? AND m.deleted_at IS NULL
      ORDER BY m.id DESC LIMIT ?`,
  ),
  bumpSeq: db.prepare<[number], { event_seq: number }>(
    'UPDATE rooms SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq',
  ),
  insertEvent: db.prepare(
    'INSERT INTO room_events (room_id, seq, type, message_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  ),
  eventsAfter: db.prepare<[number, number], { seq: number; payload: string }>(
    'SELECT seq, payload FROM room_events WHERE room_id = ? AND seq > ? ORDER BY seq',
  ),
};

const now = () => new Date().toISOString();

const toUser = (u: UserRow) => ({
  id: u.id,
  username: u.username,
  displayName: u.display_name,
  createdAt: u.created_at,
});

const toRoom = (r: RoomRow) => ({
  id: r.id,
  name: r.name,
  isPrivate: !!r.is_private,
  isDirect: !!r.is_direct,
  ownerId: r.owner_id,
  createdAt: r.created_at,
  memberCount: r.member_count,
});

const toMessage = (m: MessageRow) => ({
  id: m.id,
  roomId: m.room_id,
  author: { id: m.author_id, username: m.username, displayName: m.display_name },
  text: m.deleted_at ? '' : m.text,
  clientMessageId: m.client_message_id,
  createdAt: m.created_at,
  editedAt: m.edited_at,
  deletedAt: m.deleted_at,
});

type Message = ReturnType<typeof toMessage>;
type MessageEvent = { type: 'created' | 'edited' | 'deleted'; message: Message };

// ---------------------------------------------------------------------------------------
// Events: in-process pub/sub
// ---------------------------------------------------------------------------------------
const ee = new EventEmitter();
ee.setMaxListeners(0);
const roomChannel = (roomId: number) => `room:${roomId}`;

const sendMessageTx = db.transaction(
  (roomId: number, authorId: number, text: string, clientMessageId: string | null) => {
    const createdAt = now();
    const info = stmt.insertMessage.run(roomId, authorId, text, clientMessageId, createdAt);
    const message = toMessage(stmt.messageById.get(Number(info.lastInsertRowid))!);
    const { event_seq: seq } = stmt.bumpSeq.get(roomId)!;
    const event: MessageEvent = { type: 'created', message };
    stmt.insertEvent.run(roomId, seq, 'created', message.id, JSON.stringify(event), createdAt);
    return { seq, event };
  },
);

// ---------------------------------------------------------------------------------------
// Auth
// ---------------------------------------------------------------------------------------
function signToken(userId: number) {
  return jwt.sign({ userId, sub: String(userId) }, JWT_KEY, {
    algorithm: 'HS256',
    expiresIn: JWT_EXPIRES_IN,
  });
}

function userIdFromToken(token: string | null | undefined): number | null {
  if (!token) return null;
  try {
    const payload = jwt.verify(token, JWT_KEY, { algorithms: ['HS256'] });
    if (typeof payload === 'object' && typeof payload.userId === 'number') return payload.userId;
  } catch {
    // invalid or expired: anonymous
  }
  return null;
}

function bearer(header: string | undefined): string | null {
  if (header?.startsWith('Bearer ')) return header.slice(7);
  return null;
}

// ---------------------------------------------------------------------------------------
// tRPC
// ---------------------------------------------------------------------------------------
type Context = { userId: number | null };

const createHttpContext = ({ req }: trpcExpress.CreateExpressContextOptions): Context => ({
  userId: userIdFromToken(bearer(req.headers.authorization)),
});

const createWsContext = ({ req, info }: CreateWSSContextFnOptions): Context => {
  let token = bearer(req.headers.authorization);
  if (!token && req.url) {
    token = new URL(req.url, 'http://localhost').searchParams.get('token');
  }
  if (!token) token = info.connectionParams?.token ?? null;
  return { userId: userIdFromToken(token) };
};

const t = initTRPC.context<Context>().create({
  errorFormatter({ shape, error }) {
    const cause = error.cause as { issues?: { path?: PropertyKey[]; message: string }[] } | undefined;
    const issues =
      error.code === 'BAD_REQUEST' && Array.isArray(cause?.issues)
        ? cause.issues.map((i) => ({ path: i.path ?? [], message: i.message }))
        : undefined;
    return { ...shape, data: { ...shape.data, ...(issues ? { issues } : {}) } };
  },
});

const router = t.router;
const publicProcedure = t.procedure;

const protectedProcedure = t.procedure.use(({ ctx, next }) => {
  if (ctx.userId == null) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { userId: ctx.userId } });
});

/** Procedures on one room: the room must exist and the caller must be a member. */
const roomMemberProcedure = protectedProcedure
  .input(z.object({ roomId: z.number().int().positive() }))
  .use(({ ctx, input, next }) => {
    const room = stmt.roomById.get(input.roomId);
    if (!room) throw new TRPCError({ code: 'NOT_FOUND', message: 'Room not found' });
    if (!stmt.isMember.get(room.id, ctx.userId)) {
      throw new TRPCError({ code: 'FORBIDDEN', message: 'Not a member of this room' });
    }
    return next({ ctx: { room } });
  });

const username = z.string().regex(/^[A-Za-z0-9_]{3,32}$/, 'Username must be 3-32 letters, digits or _');
const password = z.string().min(8).max(256);

const authRouter = router({
  register: publicProcedure
    .input(
      z.object({
        username,
        password,
        displayName: z.string().trim().min(1).max(64).optional(),
      }),
    )
    .mutation(async ({ input }) => {
      if (stmt.userByName.get(input.username)) {
        throw new TRPCError({ code: 'CONFLICT', message: 'Username already taken' });
      }
      const hash = await argon2.hash(input.password, {
        type: argon2.argon2id,
        timeCost: ARGON2_TIME_COST,
        memoryCost: ARGON2_MEMORY_COST,
      });
      let id: number;
      try {
        const info = stmt.insertUser.run(input.username, input.displayName ?? input.username, hash, now());
        id = Number(info.lastInsertRowid);
      } catch {
        throw new TRPCError({ code: 'CONFLICT', message: 'Username already taken' });
      }
      return { token: signToken(id), user: toUser(stmt.userById.get(id)!) };
    }),

  me: protectedProcedure.query(({ ctx }) => {
    const user = stmt.userById.get(ctx.userId);
    if (!user) throw new TRPCError({ code: 'UNAUTHORIZED' });
    return toUser(user);
  }),
});

const roomsRouter = router({
  create: protectedProcedure
    .input(
      z.object({
        name: z.string().trim().min(1).max(100),
        isPrivate: z.boolean().default(false),
        memberIds: z.array(z.number().int().positive()).max(100).optional(),
      }),
    )
    .mutation(({ ctx, input }) => {
      for (const id of input.memberIds ?? []) {
        if (!stmt.userById.get(id)) {
          throw new TRPCError({ code: 'BAD_REQUEST', message: `User ${id} does not exist` });
        }
      }
      const roomId = db.transaction(() => {
        const ts = now();
        const info = stmt.insertRoom.run(input.name, input.isPrivate ? 1 : 0, ctx.userId, ts);
        const id = Number(info.lastInsertRowid);
        stmt.addMember.run(id, ctx.userId, ts);
        for (const memberId of input.memberIds ?? []) stmt.addMember.run(id, memberId, ts);
        return id;
      })();
      return toRoom(stmt.roomById.get(roomId)!);
    }),

  join: protectedProcedure
    .input(z.object({ roomId: z.number().int().positive() }))
    .mutation(({ ctx, input }) => {
      const room = stmt.roomById.get(input.roomId);
      if (!room) throw new TRPCError({ code: 'NOT_FOUND', message: 'Room not found' });
      if (room.is_private && !stmt.isMember.get(room.id, ctx.userId)) {
        throw new TRPCError({ code: 'FORBIDDEN', message: 'Room is private' });
      }
      stmt.addMember.run(room.id, ctx.userId, now());
      return toRoom(stmt.roomById.get(room.id)!);
    }),
});

const messagesRouter = router({
  send: roomMemberProcedure
    .input(
      z.object({
        text: z.string().trim().min(1).max(4000),
        clientMessageId: z.string().min(1).max(64).optional(),
      }),
    )
    .mutation(({ ctx, input }) => {
      if (input.clientMessageId) {
        const existing = stmt.messageByClientId.get(ctx.userId, input.clientMessageId);
        if (existing) return toMessage(existing);
      }
      const { seq, event } = sendMessageTx(
        ctx.room.id,
        ctx.userId,
        input.text,
        input.clientMessageId ?? null,
      );
      ee.emit(roomChannel(ctx.room.id), { seq, event });
      return event.message;
    }),

  list: roomMemberProcedure
    .input(
      z.object({
        cursor: z.number().int().nullish(),
        limit: z.number().int().min(1).max(100).default(50),
      }),
    )
    .query(({ ctx, input }) => {
      const rows = stmt.listMessages.all(ctx.room.id, input.cursor ?? Number.MAX_SAFE_INTEGER, input.limit + 1);
      const hasMore = rows.length > input.limit;
      const items = rows.slice(0, input.limit).map(toMessage);
      return { items, nextCursor: hasMore ? items[items.length - 1]!.id : null };
    }),

  onMessage: roomMemberProcedure
    .input(z.object({ lastEventId: z.string().nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      // Listen first, then replay from the database, so nothing falls in between.
      const live = on(ee, roomChannel(ctx.room.id), { signal });
      let lastSeq = input.lastEventId != null ? Number(input.lastEventId) || 0 : null;
      if (lastSeq != null) {
        for (const row of stmt.eventsAfter.all(ctx.room.id, lastSeq)) {
          lastSeq = row.seq;
          yield tracked(String(row.seq), JSON.parse(row.payload) as MessageEvent);
        }
      }
      for await (const [{ seq, event }] of live as AsyncIterable<[{ seq: number; event: MessageEvent }]>) {
        if (lastSeq != null && seq <= lastSeq) continue;
        yield tracked(String(seq), event);
      }
    }),
});

const appRouter = router({
  auth: authRouter,
  rooms: roomsRouter,
  messages: messagesRouter,
});

export type AppRouter = typeof appRouter;

// ---------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------
const app = express();
app.disable('x-powered-by');
app.get('/health', (_req, res) => {
  res.json({ status: 'ok', timestamp: new Date().toISOString() });
});
app.use(
  '/trpc',
  trpcExpress.createExpressMiddleware({ router: appRouter, createContext: createHttpContext }),
);
const httpServer = app.listen(PORT, HOST, (error?: Error) => {
  if (error) {
    console.error(`cannot listen on ${HOST}:${PORT}: ${error.message} (set PORT)`);
    process.exit(1);
  }
  console.log(`baseline HTTP on http://${HOST}:${PORT}/trpc`);
});

const wss = new WebSocketServer({ port: WS_PORT, host: HOST, perMessageDeflate: false });
wss.on('error', (error) => {
  console.error(`cannot listen on ${HOST}:${WS_PORT}: ${error.message} (set WS_PORT)`);
  process.exit(1);
});
const wssHandler = applyWSSHandler({ wss, router: appRouter, createContext: createWsContext });
wss.on('listening', () => console.log(`baseline WebSocket on ws://${HOST}:${WS_PORT}`));

function shutdown() {
  wssHandler.broadcastReconnectNotification();
  wss.close();
  httpServer.close();
  for (const client of wss.clients) client.terminate();
  db.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
