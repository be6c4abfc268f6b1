// The official client with the superjson transformer against a TRANSFORMER=superjson
// chat server (tests/integration/test_superjson.py): every procedure round-trips on
// httpBatchLink, httpBatchStreamLink, httpSubscriptionLink and wsLink, times arrive
// as Date objects, and errors keep their shape.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  TRPCClientError,
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  httpBatchStreamLink,
  httpSubscriptionLink,
  splitLink,
  wsLink,
} from '@trpc/client';
import { EventSource } from 'eventsource';
import superjson from 'superjson';
import WebSocket from 'ws';
import { PASSWORD, TRPC_URL, WS_URL, collector, uniqueName } from './helpers.mjs';

const sockets = [];
after(() => sockets.forEach((s) => s.close()));

const LINKS = {
  httpBatchLink: (token) =>
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: httpSubscriptionLink({
        url: TRPC_URL,
        EventSource,
        transformer: superjson,
        connectionParams: token ? { token } : undefined,
      }),
      false: httpBatchLink({ url: TRPC_URL, transformer: superjson, headers: auth(token) }),
    }),
  httpBatchStreamLink: (token) =>
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: httpSubscriptionLink({
        url: TRPC_URL,
        EventSource,
        transformer: superjson,
        connectionParams: token ? { token } : undefined,
      }),
      false: httpBatchStreamLink({ url: TRPC_URL, transformer: superjson, headers: auth(token) }),
    }),
  wsLink: (token) => {
    const socket = createWSClient({
      url: WS_URL,
      WebSocket,
      connectionParams: token ? { token } : undefined,
    });
    sockets.push(socket);
    return wsLink({ client: socket, transformer: superjson });
  },
};

function auth(token) {
  return () => (token ? { authorization: `Bearer ${token}` } : {});
}

function assertDate(value, what) {
  assert.ok(value instanceof Date, `${what} is a Date: ${value}`);
  assert.ok(!Number.isNaN(value.getTime()), `${what} is a valid Date`);
}

function assertUser(user, what) {
  assert.equal(typeof user.id, 'number');
  assertDate(user.createdAt, `${what}.createdAt`);
}

function assertMessage(message, what) {
  assertDate(message.createdAt, `${what}.createdAt`);
  assert.ok(message.editedAt === null || message.editedAt instanceof Date, `${what}.editedAt`);
  assert.ok(message.deletedAt === null || message.deletedAt instanceof Date, `${what}.deletedAt`);
}

for (const [name, link] of Object.entries(LINKS)) {
  describe(`superjson over ${name}`, () => {
    test('every procedure round-trips with Dates', async () => {
      const anon = createTRPCClient({ links: [link(null)] });
      const aliceName = uniqueName('sj');
      const registered = await anon.auth.register.mutate({
        username: aliceName,
        password: PASSWORD,
        displayName: 'Alice',
      });
      assertUser(registered.user, 'register.user');
      const bobReg = await anon.auth.register.mutate({
        username: uniqueName('sj'),
        password: PASSWORD,
      });
      const login = await anon.auth.login.mutate({ username: aliceName, password: PASSWORD });
      assertUser(login.user, 'login.user');

      const alice = createTRPCClient({ links: [link(login.token)] });
      const bob = createTRPCClient({ links: [link(bobReg.token)] });
      const me = await alice.auth.me.query();
      assertUser(me, 'me');
      assert.equal(me.id, registered.user.id);
      assertUser(await alice.users.get.query({ userId: bobReg.user.id }), 'users.get');

      const room = await alice.rooms.create.mutate({ name: 'superjson room' });
      assertDate(room.createdAt, 'room.createdAt');
      const joined = await bob.rooms.join.mutate({ roomId: room.id });
      assert.equal(joined.id, room.id);
      assertDate(joined.createdAt, 'join.createdAt');
      const direct = await alice.rooms.openDirect.mutate({ userId: bobReg.user.id });
      assert.equal(direct.isDirect, true);
      assertDate(direct.createdAt, 'openDirect.createdAt');
      const mine = await alice.rooms.list.query();
      assert.ok(mine.some((r) => r.id === room.id));
      mine.forEach((r) => assertDate(r.createdAt, 'rooms.list[].createdAt'));
      const publicRooms = await alice.rooms.listPublic.query({ limit: 100 });
      assert.ok(publicRooms.items.every((r) => r.createdAt instanceof Date));
      const members = await alice.rooms.members.query({ roomId: room.id });
      assert.deepEqual(members.map((u) => u.id).sort(), [me.id, bobReg.user.id].sort());
      members.forEach((u) => assertUser(u, 'members[]'));

      const events = collector();
      const typing = collector();
      const presence = collector();
      const subs = [
        bob.messages.onMessage.subscribe({ roomId: room.id }, events.callbacks),
        bob.typing.onTyping.subscribe({ roomId: room.id }, typing.callbacks),
        alice.presence.onPresence.subscribe({ roomId: room.id }, presence.callbacks),
      ];
      await events.until(() => events.started > 0, 10000);
      await typing.until(() => typing.started > 0, 10000);
      await presence.until(() => presence.events.length > 0, 10000);
      const online = presence.events.at(-1);
      online.online.forEach((u) => assertUser(u, 'presence.online[]'));

      await alice.typing.set.mutate({ roomId: room.id, isTyping: true });
      await typing.until(() => typing.events.length > 0, 10000);
      assert.equal(typing.events[0].user.id, me.id);
      assert.equal(typing.events[0].isTyping, true);

      const sent = await alice.messages.send.mutate({
        roomId: room.id,
        text: 'has a.dot and a \\ backslash',
        clientMessageId: 'sj-1',
      });
      assertMessage(sent, 'send');
      const edited = await alice.messages.edit.mutate({ messageId: sent.id, text: 'edited' });
      assertDate(edited.editedAt, 'edit.editedAt');
      const deleted = await alice.messages.delete.mutate({ messageId: sent.id });
      assertDate(deleted.deletedAt, 'delete.deletedAt');

      await events.until(() => events.events.length >= 3, 10000);
      assert.deepEqual(
        events.events.map((e) => [e.data.type, e.data.message.id]),
        [
          ['created', sent.id],
          ['edited', sent.id],
          ['deleted', sent.id],
        ],
      );
      events.events.forEach((e) => {
        assert.equal(typeof e.id, 'string');
        assertMessage(e.data.message, 'onMessage.message');
      });

      const kept = await alice.messages.send.mutate({ roomId: room.id, text: 'kept' });
      const page = await alice.messages.list.query({ roomId: room.id, limit: 10 });
      assert.ok(page.items.some((m) => m.id === kept.id));
      page.items.forEach((m) => assertMessage(m, 'list.items[]'));
      assert.equal(page.nextCursor, null);

      // Resume from the first event: the rest is replayed, still with Dates.
      const resumed = collector();
      subs.push(
        bob.messages.onMessage.subscribe(
          { roomId: room.id, lastEventId: events.events[0].id },
          resumed.callbacks,
        ),
      );
      await resumed.until(() => resumed.events.length >= 2, 10000);
      resumed.events.forEach((e) => assertMessage(e.data.message, 'replayed.message'));

      assert.deepEqual(await bob.rooms.leave.mutate({ roomId: room.id }), { ok: true });
      const other = await alice.rooms.create.mutate({ name: 'second', isPrivate: true });
      const added = await alice.rooms.addMember.mutate({ roomId: other.id, userId: bobReg.user.id });
      assert.equal(added.memberCount, 2);
      assertDate(added.createdAt, 'addMember.createdAt');
      subs.forEach((s) => s.unsubscribe());
    });

    test('errors keep their shape', async () => {
      const anon = createTRPCClient({ links: [link(null)] });
      await assert.rejects(anon.auth.me.query(), (err) => {
        assert.ok(err instanceof TRPCClientError);
        assert.equal(err.data.code, 'UNAUTHORIZED');
        assert.equal(err.data.httpStatus, 401);
        assert.equal(err.data.path, 'auth.me');
        return true;
      });
      await assert.rejects(
        anon.auth.register.mutate({ username: 'x', password: 'short' }),
        (err) => {
          assert.ok(err instanceof TRPCClientError);
          assert.equal(err.data.code, 'BAD_REQUEST');
          assert.ok(Array.isArray(err.data.issues) || typeof err.message === 'string');
          return true;
        },
      );
      const user = await anon.auth.register.mutate({ username: uniqueName('sj'), password: PASSWORD });
      const client = createTRPCClient({ links: [link(user.token)] });
      const failed = collector();
      const sub = client.messages.onMessage.subscribe({ roomId: 987654321 }, failed.callbacks);
      await failed.until(() => failed.error !== null, 10000).catch(() => {});
      sub.unsubscribe();
      assert.ok(failed.error instanceof TRPCClientError);
      assert.ok(['FORBIDDEN', 'NOT_FOUND'].includes(failed.error.data.code), failed.error.data.code);
    });
  });
}
