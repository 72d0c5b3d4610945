// Serving an SPLP service from Node.js with a plain AMQP library (amqplib), following
// docs/wire-protocol.md sections 6 and 11 and nothing else: the reference server of §14.
// `splp conformance serve -- node server.mjs` checks it against every MUST of the spec
// (tests/test_conformance.py runs that, and the SDK requester against it).
//
//   SPLP_AMQP_URL=amqp://dukcapil:PASSWORD@127.0.0.1:5672/splp node server.mjs
//
// It serves dukcapil.penduduk.v1 (theme kependudukan), operation get-by-nik, from a table
// of one resident, until SIGTERM or SIGINT. SPLP_MAX_BODY_BYTES is the deployment's body
// limit (default 1 MiB, §12).

import amqp from 'amqplib';
import { randomUUID } from 'node:crypto';

const PUBLISHER = 'dukcapil';
const SERVICE = 'penduduk';
const MAJOR = 1;
const THEME = 'kependudukan';
const REF = `${PUBLISHER}.${SERVICE}.v${MAJOR}`;
const QUEUE = `splp.svc.${REF}`;
const EXCHANGE = `splp.theme.${THEME}`;
const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';
const LIMIT = Number(process.env.SPLP_MAX_BODY_BYTES ?? 1024 * 1024);
const SOURCE = `node-server:${REF}`;
const RESIDENTS = {
  '1508010101900001': { nik: '1508010101900001', name: 'Siti Aminah', village: 'Sungai Binjai' },
};
const OPERATIONS = { [`${REF}.get-by-nik`]: ['get-by-nik', getByNik] };  // routing key -> handler

class ProblemError extends Error {
  constructor(status, name, title, detail, extra = {}) {
    super(detail);
    this.problem = { type: `urn:splp:problem:${name}`, title, status, detail, ...extra };
  }
}
const forbidden = (detail) => new ProblemError(403, 'forbidden', 'Forbidden', detail);
const badRequest = (detail) => new ProblemError(400, 'bad-request', 'Bad request', detail);

async function getByNik(payload) {
  const resident = RESIDENTS[payload.nik];
  if (!resident) throw new ProblemError(404, 'not-found', 'Not found', 'no resident with that NIK');
  return resident;
}

// §5.3: a whole number, whatever the AMQP field type (JavaScript cannot tell 1 from 1.0)
const isInteger = (v) => typeof v === 'number' && Number.isInteger(v);

// §6.2 check 2a: splp-deadline, else timestamp + expiration + 1 s, else none
function deadlineOf(p) {
  const header = p.headers?.['splp-deadline'];
  if (isInteger(header)) return header;
  if (p.timestamp != null && /^[0-9]+$/.test(p.expiration ?? '')) {
    return p.timestamp * 1000 + Number(p.expiration) + 1000;
  }
  return Infinity;
}

// §5.3 "UTF-8 JSON": JSON.parse refuses NaN and a BOM (kept by ignoreBOM); it accepts
// duplicate names and unpaired surrogates, which this scan of the accepted text refuses.
function parseStrictJson(bytes) {
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  const value = JSON.parse(text);
  const stack = [];                                     // per open object: {names, expectName}
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const string = JSON.parse(text.slice(i, j + 1));
      if (!string.isWellFormed()) throw new Error('an unpaired surrogate');
      const top = stack[stack.length - 1];
      if (top && top.expectName) {
        if (top.names.has(string)) throw new Error('a duplicate member name');
        top.names.add(string);
        top.expectName = false;
      }
      i = j;
    } else if (c === '{') stack.push({ names: new Set(), expectName: true });
    else if (c === '[') stack.push(null);
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',' && stack[stack.length - 1]) stack[stack.length - 1].expectName = true;
  }
  return value;
}

// the request schema of get-by-nik (splp/demo/penduduk.yaml), checked by hand; the
// messages come from the schema, never from the request (§8)
function schemaErrors(payload) {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return [{ pointer: '', message: 'must be of type object' }];
  }
  const errors = [];
  if (!('nik' in payload)) errors.push({ pointer: '/nik', message: 'is required' });
  else if (typeof payload.nik !== 'string') errors.push({ pointer: '/nik', message: 'must be of type string' });
  else if (!/^[0-9]{16}$/.test(payload.nik)) {
    errors.push({ pointer: '/nik', message: 'must match the pattern ^[0-9]{16}$' });
  }
  if (Object.keys(payload).some((k) => k !== 'nik')) {
    errors.push({ pointer: '', message: 'has members the schema does not allow' });
  }
  return errors;
}

// checks 3a-6, then the handler (7-9); returns [status, body, operation]
async function answer(msg) {
  const route = OPERATIONS[msg.fields.routingKey];
  if (!route) return [404, new ProblemError(404, 'not-found', 'Not found', `no operation of ${REF} there`).problem];
  const [operation, handler] = route;
  try {
    const headers = msg.properties.headers ?? {};
    const protocol = headers['splp-protocol'] ?? 1;
    if (!isInteger(protocol) || protocol !== 1) {
      throw badRequest('splp-protocol is not supported (this server speaks 1, an AMQP integer)');
    }
    if ('splp-deadline' in headers && !isInteger(headers['splp-deadline'])) {
      throw badRequest('splp-deadline must be an AMQP integer (epoch milliseconds)');
    }
    if (msg.content.length > LIMIT) {
      throw new ProblemError(413, 'payload-too-large', 'Payload too large',
        `the body is ${msg.content.length} bytes; the limit is ${LIMIT}`, { max_body_bytes: LIMIT });
    }
    let payload;
    try { payload = parseStrictJson(msg.content); }
    catch (e) { throw badRequest(`body is not valid UTF-8 JSON: ${e.message}`); }
    const errors = schemaErrors(payload);
    if (errors.length) {
      throw new ProblemError(400, 'schema-violation', 'Schema violation',
        `the request does not match the schema of ${operation}`, { errors });
    }
    return [200, await handler(payload, msg.properties), operation];
  } catch (e) {
    if (e instanceof ProblemError) return [e.problem.status, e.problem, operation];
    console.error(`${SOURCE}: ${operation} failed: ${e.name}`);   // never the payload
    return [500, new ProblemError(500, 'internal', 'Internal error', 'the service failed').problem,
            operation];
  }
}

const AMQP_URL = process.env.SPLP_AMQP_URL ?? `amqp://guest:guest@127.0.0.1:5672/splp`;
const BROKER_USER = decodeURIComponent(new URL(AMQP_URL).username) || 'guest';  // §11: user_id
const conn = await amqp.connect(AMQP_URL,
                                { heartbeat: 10, clientProperties: { connection_name: SOURCE } });
const ch = await conn.createChannel();
const auditCh = await conn.createConfirmChannel();              // §11: audit events with confirms

// §11: one event per request, metadata only, routing key <kind>.<theme>.<publisher>.<service>
function audit(kind, msg, started, extra) {
  const p = msg.properties;
  const event = {
    id: randomUUID().replaceAll('-', ''), time: new Date().toISOString(), kind, source: SOURCE,
    theme: THEME, publisher: PUBLISHER, service: SERVICE, major: MAJOR,
    request_bytes: msg.content.length, ...extra,
  };
  if (p.userId) event.requester = p.userId;
  if (p.messageId) event.message_id = p.messageId;
  if (p.correlationId) event.correlation_id = p.correlationId;
  if (kind !== 'dropped') event.duration_ms = Math.round((performance.now() - started) * 1000) / 1000;
  auditCh.publish('splp.audit', `${kind}.${THEME}.${PUBLISHER}.${SERVICE}`,
    Buffer.from(JSON.stringify([event])), {
      contentType: 'application/json', deliveryMode: 2, messageId: event.id, type: kind,
      userId: BROKER_USER, headers: { 'splp-protocol': 1, 'splp-audit-count': 1 },
    }, (err) => { if (err) console.error(`${SOURCE}: an audit event was not confirmed`); });
}

await ch.prefetch(64);                                            // §6.1 step 1
await ch.consume(QUEUE, async (msg) => {
  const started = performance.now();
  const p = msg.properties;
  // 1a, 1b: the caller first, so an injection is always audited as denied
  const denied = msg.fields.exchange !== EXCHANGE ? forbidden(`requests must be published to ${EXCHANGE}`)
    : !p.userId ? forbidden('the request carries no user_id, so no caller is known') : null;
  // 2a-2c: nobody can (safely) be told
  const unanswerable = deadlineOf(p) < Date.now() ? 'expired'
    : !p.replyTo ? 'no-reply-to' : !p.replyTo.startsWith(DIRECT_REPLY_TO) ? 'bad-reply-to' : null;
  if (unanswerable) {
    ch.reject(msg, false);                                        // -> splp.dlx, never requeue
    if (denied) audit('denied', msg, started, { status: 403, response_bytes: 0, reason: unanswerable });
    else audit('dropped', msg, started, { reason: unanswerable });
    return;
  }
  const [status, result, operation] = denied ? [403, denied.problem, undefined] : await answer(msg);
  const body = Buffer.from(JSON.stringify(result));
  ch.publish('', p.replyTo, body, {                               // §6.3
    correlationId: p.correlationId,
    contentType: status < 400 ? 'application/json' : 'application/problem+json',
    deliveryMode: 1,
    headers: { 'splp-protocol': 1, 'splp-status': status },
  });
  ch.ack(msg);                                                    // after the reply
  const kind = status === 403 ? 'denied' : 'response';
  audit(kind, msg, started, { status, response_bytes: body.length, ...(operation && { operation }) });
}, { noAck: false });
console.log(`${SOURCE}: consuming ${QUEUE}`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, async () => {
    await ch.close().catch(() => {});
    await auditCh.waitForConfirms().catch(() => {});
    await conn.close().catch(() => {});
    process.exit(0);
  });
}
