// httpBatchLink end to end: register, login, create a room, send, list.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TRPCClientError } from '@trpc/client';
import { PASSWORD, httpClient, uniqueName } from './helpers.mjs';

test('register, login, create room, send and list over httpBatchLink', async () => {
  const anon = httpClient();
  const username = uniqueName('http');
  const registered = await anon.auth.register.mutate({
    username,
    password: PASSWORD,
    displayName: 'HTTP User',
  });
  assert.equal(registered.user.username, username);
  assert.equal(registered.user.displayName, 'HTTP User');
  assert.match(registered.user.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const login = await anon.auth.login.mutate({ username, password: PASSWORD });
  assert.equal(login.user.id, registered.user.id);
  let token = login.token;
  const client = httpClient(() => token);

  // these three go out as one batched GET
  const [me, mine, publicRooms] = await Promise.all([
    client.auth.me.query(),
    client.rooms.list.query(),
    client.rooms.listPublic.query({ limit: 5 }),
  ]);
  assert.equal(me.id, registered.user.id);
  assert.deepEqual(mine, []);
  assert.ok(Array.isArray(publicRooms.items));

  const room = await client.rooms.create.mutate({ name: 'e2e room' });
  assert.equal(room.name, 'e2e room');
  assert.equal(room.ownerId, me.id);
  assert.equal(room.memberCount, 1);
  assert.equal(room.isPrivate, false);

  // two mutations batched in one POST
  const [first, second] = await Promise.all([
    client.messages.send.mutate({ roomId: room.id, text: 'first', clientMessageId: 'c1' }),
    client.messages.send.mutate({ roomId: room.id, text: 'second' }),
  ]);
  assert.equal(first.text, 'first');
  assert.equal(first.clientMessageId, 'c1');
  assert.equal(second.clientMessageId, null);
  assert.equal(first.author.username, username);
  assert.equal(first.deletedAt, null);

  const page = await client.messages.list.query({ roomId: room.id });
  assert.deepEqual(
    page.items.map((m) => m.text),
    [first, second].sort((a, b) => b.id - a.id).map((m) => m.text),
  );
  assert.equal(page.nextCursor, null);

  token = null;
  await assert.rejects(client.auth.me.query(), (err) => {
    assert.ok(err instanceof TRPCClientError);
    assert.equal(err.data.code, 'UNAUTHORIZED');
    assert.equal(err.data.httpStatus, 401);
    return true;
  });
});

test('a batch mixing success and failure resolves each call on its own', async () => {
  const anon = httpClient();
  const results = await Promise.allSettled([
    anon.auth.login.mutate({ username: uniqueName('nobody'), password: PASSWORD }),
    anon.auth.register.mutate({ username: uniqueName('mixed'), password: PASSWORD }),
    anon.auth.register.mutate({ username: 'x', password: PASSWORD }),
  ]);
  assert.equal(results[0].status, 'rejected');
  assert.equal(results[0].reason.data.code, 'UNAUTHORIZED');
  assert.equal(results[1].status, 'fulfilled');
  assert.equal(results[2].status, 'rejected');
  assert.equal(results[2].reason.data.code, 'BAD_REQUEST');
  assert.deepEqual(results[2].reason.data.issues.map((i) => i.path), [['username']]);
});
