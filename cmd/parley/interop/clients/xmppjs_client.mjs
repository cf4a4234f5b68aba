// Interop scenario for Parley driven by xmpp.js (@xmpp/client 0.14).
//
//   node [--experimental-websocket] xmppjs_client.mjs --service URL --domain D \
//        --account LOCAL:PASSWORD --account LOCAL:PASSWORD [--timeout S] [--verbose]
//
// URL is xmpp://host:port (TCP + STARTTLS), xmpps://host:port (direct TLS) or
// ws://host:port/path (RFC 7395). Two existing accounts log in, fetch and set
// the roster, exchange messages both ways (bodies checked character for
// character), send directed presence, ping the server and each other, and the
// second sees the first go unavailable when it stops. TLS is verified against
// the system roots plus NODE_EXTRA_CA_CERTS; --insecure turns verification off.
//
// Prints one JSON object on stdout; exits 1 with {"ok": false, "error": ...}
// (and the error on stderr) on any failure. Every wait has a timeout.
//
// One client bug is worked around: xmpp.js 0.14 decodes every socket read on
// its own (@xmpp/connection _onData: data.toString("utf8")), so a character
// whose bytes straddle two reads (two TLS records, say) turns into U+FFFD.
// TCP may split bytes anywhere, so that is not the server's fault, and the
// script decodes reads with a StringDecoder instead. How often a read ended
// inside a character is reported as utf8_split_reads: unpatched xmpp.js
// would have corrupted that many characters.

import { StringDecoder } from "node:string_decoder";
import { parseArgs } from "node:util";
import { client, xml } from "@xmpp/client";

const NS_ROSTER = "jabber:iq:roster";
const NS_PING = "urn:xmpp:ping";
const NS_INTEROP = "urn:example:parley:interop";

const BODIES = [
  "hello from xmpp.js",
  "<&>\"'",
  "a < b && c > d \"double\" 'single' <tag attr=\"v\"/>",
  "]]> <![CDATA[ not cdata ]]>",
  "emoji 😀🎉👍🏽 family 👨\u200d👩\u200d👧\u200d👦",
  "unicode: pässwörd ✓ 日本語 Ελληνικά العربية עברית",
  "combining: e\u0301 is not \u00e9",
  "  padded\tand\nnewline  ",
  "&amp; &lt; literal entity text",
  "long:" + "0123456789abcdef<&>é😀".repeat(500),
];

class Failure extends Error {}

function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

function short(s, n = 120) {
  const t = JSON.stringify(s);
  return t.length <= n ? t : t.slice(0, n - 3) + "...";
}

const { values: opts } = parseArgs({
  options: {
    service: { type: "string" },
    domain: { type: "string", default: "localhost" },
    account: { type: "string", multiple: true, default: [] },
    timeout: { type: "string", default: "10" },
    "total-timeout": { type: "string", default: "90" },
    insecure: { type: "boolean", default: false },
    verbose: { type: "boolean", short: "v", default: false },
  },
});

const T = Number(opts.timeout) * 1000;
const log = (...a) => opts.verbose && console.error(new Date().toISOString(), ...a);

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`timed out after ${ms / 1000}s: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// Inbox keeps what a client received until a check takes it.
class Inbox {
  items = [];
  waiters = new Set();

  put(st) {
    this.items.push(st);
    for (const w of this.waiters) w();
  }

  take(pred, what) {
    return withTimeout(
      new Promise((resolve) => {
        const look = () => {
          const i = this.items.findIndex(pred);
          if (i < 0) return;
          const [st] = this.items.splice(i, 1);
          this.waiters.delete(look);
          resolve(st);
        };
        this.waiters.add(look);
        look();
      }),
      T,
      `${what}; unmatched: ${this.items.slice(-4).map((s) => short(s.toString(), 300)).join(" | ")}`,
    );
  }
}

async function online(local, password, resource) {
  const c = client({
    service: opts.service,
    domain: opts.domain,
    username: local,
    password,
    resource,
    timeout: T,
  });
  c.reconnect.stop();
  const decoder = new StringDecoder("utf8");
  c.utf8Splits = 0;
  c._onData = function (data) {
    if (typeof data === "string") return this.parser.write(data); // WebSocket text frame
    if (endsInsideChar(data)) c.utf8Splits++;
    this.parser.write(decoder.write(data));
  };
  c.inbox = new Inbox();
  c.errors = [];
  c.pushes = [];
  c.on("error", (err) => {
    log(local, "error", err);
    c.errors.push(String(err?.message ?? err));
  });
  c.on("send", (el) => {
    log(local, "SEND", el.toString());
    if (el.is("auth", "urn:ietf:params:xml:ns:xmpp-sasl")) c.mech = el.attrs.mechanism;
    if (el.is("authenticate", "urn:xmpp:sasl:2")) c.mech = "SASL2 " + el.attrs.mechanism;
  });
  c.on("element", (el) => log(local, "RECV", el.toString()));
  c.on("stanza", (st) => c.inbox.put(st));
  c.iqCallee.set(NS_ROSTER, "query", (ctx) => {
    c.pushes.push(ctx.stanza);
    return true;
  });
  c.iqCallee.get(NS_PING, "ping", () => true);
  let addr;
  try {
    addr = await withTimeout(c.start(), T, `${local} login over ${opts.service}`);
  } catch (err) {
    await c.stop().catch(() => {});
    throw new Failure(`${local}@${opts.domain} login over ${opts.service}: ${err?.message ?? err}`);
  }
  c.full = addr.toString();
  c.bare = addr.bare().toString();
  check(c.bare === `${local}@${opts.domain}`, `bound ${c.full}, want ${local}@${opts.domain}/...`);
  return c;
}

// endsInsideChar reports whether buf stops in the middle of a UTF-8 sequence.
function endsInsideChar(buf) {
  let i = buf.length - 1;
  let cont = 0;
  while (i >= 0 && cont < 3 && (buf[i] & 0xc0) === 0x80) {
    i--;
    cont++;
  }
  if (i < 0) return false;
  const lead = buf[i];
  const size = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return size > cont + 1;
}

async function iq(c, type, child, to, what) {
  try {
    return await withTimeout(c.iqCaller.request(xml("iq", { type, to }, child), T), T, what);
  } catch (err) {
    if (err instanceof Failure) throw err;
    throw new Failure(`${what}: ${err?.condition ?? ""} ${err?.message ?? err}`);
  }
}

function rosterItems(el) {
  const q = el.getChild("query", NS_ROSTER);
  const out = {};
  for (const it of q ? q.getChildren("item") : []) {
    out[it.attrs.jid] = {
      subscription: it.attrs.subscription ?? "none",
      name: it.attrs.name,
      groups: it.getChildren("group").map((g) => g.text()).sort(),
    };
  }
  return out;
}

async function exchange(from, to, bodies) {
  for (const [i, body] of bodies.entries()) {
    await from.send(
      xml(
        "message",
        { to: to.bare, type: "chat", id: `js${i}-${from.bare}` },
        xml("body", {}, body),
        xml("payload", { xmlns: NS_INTEROP, attr: "<&\"'> ✓", n: String(i) }, "ext <&> 😀"),
      ),
    );
  }
  for (const [i, body] of bodies.entries()) {
    const m = await to.inbox.take(
      (s) => s.is("message") && s.attrs.from === from.full && s.attrs.type === "chat",
      `${to.full}: message ${i} from ${from.full}`,
    );
    const got = m.getChildText("body");
    if (got !== body) {
      let at = 0;
      while (at < Math.min(got?.length ?? 0, body.length) && got[at] === body[at]) at++;
      throw new Failure(
        `message ${i} ${from.bare}->${to.bare} differs at ${at}: got ${short(got?.slice(at, at + 40))}, ` +
          `want ${short(body.slice(at, at + 40))} (len ${got?.length} vs ${body.length})`,
      );
    }
    check(m.attrs.id === `js${i}-${from.bare}`, `message ${i}: id ${m.attrs.id} (order or id changed)`);
    const ext = m.getChild("payload", NS_INTEROP);
    check(
      ext && ext.attrs.attr === "<&\"'> ✓" && ext.attrs.n === String(i) && ext.text() === "ext <&> 😀",
      `message ${i}: extension payload changed or dropped: ${ext?.toString()}`,
    );
  }
  return bodies.length;
}

async function run() {
  check(opts.service, "--service is required");
  check(opts.account.length >= 2, "need two --account LOCAL:PASSWORD");
  if (opts.service.startsWith("ws") && typeof WebSocket === "undefined") {
    throw new Failure("WebSocket is not defined: run node with --experimental-websocket (Node 20) or use Node 22+");
  }
  if (opts.insecure) process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  const [a, b] = opts.account.map((s) => {
    const i = s.indexOf(":");
    check(i > 0, `bad --account ${s}: want LOCAL:PASSWORD`);
    return [s.slice(0, i), s.slice(i + 1)];
  });
  const details = { service: opts.service };
  const alice = await online(a[0], a[1], "js-a");
  let bob;
  try {
    bob = await online(b[0], b[1], "js-b");
    details.mech = alice.mech ?? "none seen";
    // Initial presence, then a ping: the server processes a session's
    // stanzas in order (RFC 6120 §10.1), so after the pong the session is
    // available and bare-JID messages reach it instead of offline storage.
    for (const c of [alice, bob]) {
      await c.send(xml("presence"));
      await iq(c, "get", xml("ping", { xmlns: NS_PING }), opts.domain, "ping after initial presence");
    }

    // Roster get, set, push, get again.
    const r0 = await iq(alice, "get", xml("query", { xmlns: NS_ROSTER }), undefined, "roster get");
    details.roster_before = Object.keys(rosterItems(r0)).length;
    const name = "Bob ✓ <&>";
    await iq(
      alice,
      "set",
      xml("query", { xmlns: NS_ROSTER }, xml("item", { jid: bob.bare, name }, xml("group", {}, "xmpp.js ✓"))),
      undefined,
      "roster set",
    );
    await withTimeout(
      (async () => {
        while (!alice.pushes.some((p) => rosterItems(p)[bob.bare]?.name === name)) {
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      T,
      "roster push after roster set",
    );
    const r1 = rosterItems(await iq(alice, "get", xml("query", { xmlns: NS_ROSTER }), undefined, "roster get 2"));
    check(r1[bob.bare]?.name === name, `roster get after set: ${JSON.stringify(r1)}`);
    check(JSON.stringify(r1[bob.bare].groups) === JSON.stringify(["xmpp.js ✓"]), `groups ${r1[bob.bare].groups}`);

    // Messages both ways.
    details.messages = (await exchange(alice, bob, BODIES)) + (await exchange(bob, alice, BODIES));

    // Directed presence (no subscription needed) and its unavailable on logout.
    const status = "js status ✓ <&>";
    await alice.send(xml("presence", { to: bob.full }, xml("show", {}, "away"), xml("status", {}, status)));
    const p = await bob.inbox.take(
      (s) => s.is("presence") && s.attrs.from === alice.full && !s.attrs.type,
      "directed presence from alice",
    );
    check(p.getChildText("show") === "away" && p.getChildText("status") === status, `presence: ${p}`);

    // Pings: the server, then a client through the server.
    const pong = await iq(alice, "get", xml("ping", { xmlns: NS_PING }), opts.domain, "ping server");
    check(pong.attrs.type === "result", `ping: ${pong}`);
    const pong2 = await iq(alice, "get", xml("ping", { xmlns: NS_PING }), bob.full, "ping bob");
    check(pong2.attrs.type === "result" && pong2.attrs.from === bob.full, `client ping: ${pong2}`);

    await withTimeout(alice.stop(), T, "alice stop");
    await bob.inbox.take(
      (s) => s.is("presence") && s.attrs.from === alice.full && s.attrs.type === "unavailable",
      "unavailable from alice after she sent directed presence and logged out",
    );
    check(!bob.errors.length, `bob errors: ${bob.errors}`);
    details.utf8_split_reads = alice.utf8Splits + bob.utf8Splits;
  } finally {
    await alice.stop().catch(() => {});
    if (bob) await bob.stop().catch(() => {});
  }
  return details;
}

try {
  const details = await withTimeout(run(), Number(opts["total-timeout"]) * 1000, "whole scenario");
  console.log(JSON.stringify({ scenario: "xmppjs", ok: true, details }));
  process.exit(0);
} catch (err) {
  const msg = err instanceof Failure ? err.message : `unexpected ${err?.stack ?? err}`;
  console.log(JSON.stringify({ scenario: "xmppjs", ok: false, error: msg }));
  console.error(`xmpp.js ${opts.service}: FAIL: ${msg}`);
  process.exit(1);
}
