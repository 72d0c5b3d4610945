// Calling an SPLP service from Node.js with a plain AMQP library (amqplib), following
// docs/wire-protocol.md section 5 and nothing else: the reference requester of §14.
// tests/test_node_requester.py runs it against a real adapter, and
// `splp conformance call -- node requester.mjs` checks it against every MUST of the spec.
//
//   SPLP_AMQP_URL=amqp://dinsos:PASSWORD@127.0.0.1:5672/splp \
//     node requester.mjs kependudukan dukcapil.penduduk.v1 get-by-nik '{"nik": "1508010101900001"}'
//
// Prints the reply (JSON) on stdout and exits 0; otherwise one line on stderr and the exit
// code of the splp CLI: 1 a problem reply, 2 bad usage, 3 refused (by the broker, or a
// 401/403 problem from the adapter), 4 no such service or broker unreachable, 5 timeout.

import amqp from 'amqplib';
import { randomUUID } from 'node:crypto';

const REPLY_TO = 'amq.rabbitmq.reply-to';

function fail(code, message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}

const [theme, service, operation, json, timeoutArg] = process.argv.slice(2);
if (!theme || !service || !operation || json === undefined) {
  fail(2, 'usage: node requester.mjs THEME SERVICE OPERATION JSON [TIMEOUT_SECONDS]');
}
let payload;
try {
  payload = JSON.parse(json);
} catch (e) {
  fail(2, `the payload is not JSON: ${e.message}`);
}
const timeoutMs = Math.round(1000 * Number(timeoutArg ?? 10));

// The vhost is the URL's path, percent-encoded (section 2); a URL without one gets
// SPLP_VHOST (default splp), as in the SDK. user_id must be the login.
const url = new URL(process.env.SPLP_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/splp');
if (url.pathname === '' || url.pathname === '/') {
  url.pathname = '/' + encodeURIComponent(process.env.SPLP_VHOST ?? 'splp');
}
const user = decodeURIComponent(url.username || 'guest');

let conn;
try {
  conn = await amqp.connect(url.toString(), { heartbeat: 10 });
} catch (e) {
  fail(e.message.includes('ACCESS_REFUSED') ? 3 : 4, `cannot connect to the broker: ${e.message}`);
}

function call(ch) {
  const id = randomUUID();
  const now = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error('no reply in time'), { code: 5 })),
                             timeoutMs);
    const done = (f) => (v) => { clearTimeout(timer); f(v); };
    const ok = done(resolve);
    const ko = done(reject);
    // the reply: same channel, consumed before publishing, no-ack (section 5.1 step 2)
    ch.consume(REPLY_TO, (msg) => {
      if (msg.properties.correlationId !== id) return;   // a late reply to someone else's call
      // no integer splp-status in 100-599, or a body that is not JSON: a 502 (section 6.3)
      let status = msg.properties.headers?.['splp-status'];
      let body;
      try { body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(msg.content)); }
      catch { status = 502; body = { type: 'urn:splp:problem:upstream-error', title: 'Malformed reply' }; }
      if (!Number.isInteger(status) || status < 100 || status > 599) {
        status = 502;
        body = { type: 'urn:splp:problem:upstream-error', title: 'Malformed reply' };
      }
      if (status < 400) ok(body);
      else ko(Object.assign(new Error(`${status} ${body.type}: ${body.detail ?? body.title}`),
                            { code: status === 401 || status === 403 ? 3 : 1 }));
    }, { noAck: true }).then(() => {
      ch.publish(`splp.theme.${theme}`, `${service}.${operation}`,     // step 3
        Buffer.from(JSON.stringify(payload)), {
          mandatory: true,                 // unroutable: the broker returns it (no such service)
          messageId: id,                   // the idempotency key
          correlationId: id,
          replyTo: REPLY_TO,
          userId: user,                    // checked by the broker against the login
          timestamp: Math.floor(now / 1000),
          expiration: String(timeoutMs),
          contentType: 'application/json',
          type: operation,
          deliveryMode: 1,
          headers: { 'splp-protocol': 1, 'splp-deadline': now + timeoutMs },
        });
    }, ko);
    ch.on('return', () => ko(Object.assign(new Error(`no service bound for ${service}.${operation}`),
                                           { code: 4 })));
    // a refused publish (no grant) closes the channel with 403 ACCESS_REFUSED
    ch.on('error', (e) => ko(Object.assign(new Error(`the broker refused the call: ${e.message}`),
                                          { code: e.code === 403 ? 3 : 4 })));
  });
}

try {
  const ch = await conn.createConfirmChannel();
  const reply = await call(ch);
  process.stdout.write(JSON.stringify(reply, null, 2) + '\n');
  await conn.close();
} catch (e) {
  fail(e.code ?? 4, e.message);
}
