#!/usr/bin/python3
"""Interop scenarios for Parley driven by slixmpp (Debian python3-slixmpp 1.8).

Run with Debian's interpreter: /usr/bin/python3 slixmpp_client.py [options] SCENARIO

Each scenario logs in real slixmpp clients, exercises one feature group against
the server and checks what comes back. On success it prints one JSON object
({"scenario": ..., "ok": true, "details": {...}}) on stdout and exits 0; on any
failure it prints {"ok": false, "error": ...}, repeats the error on stderr and
exits 1. Every wait has a timeout (--timeout per step, --total-timeout for the
whole scenario), so the program never hangs.

Accounts are given as --account LOCAL:PASSWORD (the password may contain ':'
and any Unicode); scenarios use them in the order given and say how many they
need. The accounts must exist, except where a scenario says otherwise.
"""

import argparse
import asyncio
import datetime
import json
import logging
import ssl
import sys
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_ROSTER = "jabber:iq:roster"
NS_DELAY = "urn:xmpp:delay"
NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
NS_VCARD = "vcard-temp"
NS_PRIVATE = "jabber:iq:private"
NS_PING = "urn:xmpp:ping"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_NICK = "http://jabber.org/protocol/nick"
NS_INTEROP = "urn:example:parley:interop"

# Bodies that must survive the server byte for byte (as decoded text): XML
# specials, a CDATA terminator, astral-plane emoji with ZWJ sequences, scripts
# in both directions, a combining sequence the server must not normalise,
# whitespace at the edges and inside, text that looks like an entity, and one
# large body.
BODIES = [
    "hello",
    "<&>\"'",
    "a < b && c > d \"double\" 'single' <tag attr=\"v\"/>",
    "]]> <![CDATA[ not cdata ]]>",
    "emoji 😀🎉👍🏽 family 👨\u200d👩\u200d👧\u200d👦 flag 🇫🇷",
    "unicode: pässwörd ✓ 日本語 Ελληνικά العربية עברית",
    "combining: e\u0301 is not \u00e9",
    "  padded with spaces and\ttab\nand newline  ",
    "&amp; &lt; &#x1F600; literal entity text",
    "long:" + "0123456789abcdef<&>é😀" * 800,
]


class Failure(Exception):
    """A check failed; the message says what was expected and what came."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def short(text, n=120):
    text = repr(text)
    return text if len(text) <= n else text[: n - 3] + "..."


def xml_str(el):
    return ET.tostring(el, encoding="unicode") if el is not None else "None"


class Config:
    def __init__(self, args):
        self.host = args.host
        self.port = args.port
        self.tls_port = args.tls_port
        self.domain = args.domain
        self.cafile = args.cafile
        self.timeout = args.timeout
        self.quiet = args.quiet_period
        self.mechs = [m for m in args.mechs.split(",") if m]
        self.accounts = []
        for a in args.account:
            local, sep, password = a.partition(":")
            if not sep or not local:
                raise SystemExit(f"bad --account {a!r}: want LOCAL:PASSWORD")
            self.accounts.append((local, password))

    def need(self, n, scenario):
        if len(self.accounts) < n:
            raise Failure(f"scenario {scenario} needs {n} --account, got {len(self.accounts)}")
        return self.accounts[:n]


class Inbox:
    """Everything a client received, in arrival order, until taken."""

    def __init__(self):
        self.items = []
        self.changed = asyncio.Event()

    def put(self, kind, obj):
        self.items.append((kind, obj))
        self.changed.set()

    def clear(self):
        self.items.clear()

    def pending(self, kind):
        return [short(str(o), 300) for k, o in self.items if k == kind]

    async def take(self, kind, pred, timeout, what):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, (k, o) in enumerate(self.items):
                if k == kind and pred(o):
                    del self.items[i]
                    return o
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Failure(
                    f"timed out after {timeout}s waiting for {what}; "
                    f"unmatched {kind} received: {self.pending(kind)[-5:]}"
                )
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def absent(self, kind, pred, duration, what):
        await asyncio.sleep(duration)
        for k, o in self.items:
            if k == kind and pred(o):
                raise Failure(f"{what}: got {short(str(o), 300)}")


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that records every message, presence and push."""

    def __init__(self, cfg, local, password, resource, mech=None, plugins=()):
        super().__init__(f"{local}@{cfg.domain}/{resource}", password, sasl_mech=mech)
        self.cfg = cfg
        self.local = local
        if cfg.cafile:
            self.ca_certs = cfg.cafile
        else:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        # Subscriptions are answered by the scenario, never automatically.
        self.auto_authorize = None
        self.auto_subscribe = False
        for p in ("xep_0030", "xep_0199", "xep_0203") + tuple(plugins):
            self.register_plugin(p)
        self.inbox = Inbox()
        self.errors = []
        self.sasl_failure = None
        self.register_handler(Callback("rec-message", MatchXPath(f"{{{NS_CLIENT}}}message"),
                                       lambda s: self.inbox.put("message", s)))
        self.register_handler(Callback("rec-presence", MatchXPath(f"{{{NS_CLIENT}}}presence"),
                                       lambda s: self.inbox.put("presence", s)))
        self.register_handler(Callback("rec-roster-push",
                                       MatchXPath(f"{{{NS_CLIENT}}}iq/{{{NS_ROSTER}}}query"),
                                       self._on_roster_iq))
        self.add_event_handler("stream_error", lambda e: self.errors.append(f"stream error: {e}"))
        self.add_event_handler("failed_auth", self._on_failed_auth)

    @property
    def bare(self):
        return self.boundjid.bare

    @property
    def full(self):
        return self.boundjid.full

    def _on_roster_iq(self, iq):
        if iq["type"] == "set":
            self.inbox.put("roster_push", roster_items(iq.xml))

    def _on_failed_auth(self, stanza):
        self.sasl_failure = stanza["condition"] or "unknown"


def roster_items(iq_xml):
    items = {}
    for it in iq_xml.iter(f"{{{NS_ROSTER}}}item"):
        items[it.get("jid")] = {
            "subscription": it.get("subscription", "none"),
            "ask": it.get("ask"),
            "name": it.get("name"),
            "groups": sorted(g.text or "" for g in it.findall(f"{{{NS_ROSTER}}}group")),
        }
    return items


async def connect(cfg, account, resource="slix", mech=None, use_ssl=False, presence=True,
                  roster=True, plugins=(), before=None):
    """Logs in and returns the client once its session has started."""
    local, password = account
    c = Client(cfg, local, password, resource, mech=mech, plugins=plugins)
    if before:
        before(c)
    loop = asyncio.get_running_loop()
    started = loop.create_future()

    def ok(_):
        if not started.done():
            started.set_result(None)

    def bad(why):
        def handler(ev):
            if not started.done():
                extra = f" (SASL condition {c.sasl_failure})" if c.sasl_failure else ""
                started.set_exception(Failure(f"{local}@{cfg.domain}: {why}{extra}: {ev}"))
        return handler

    c.add_event_handler("session_start", ok)
    for ev, why in (("failed_all_auth", "authentication failed"),
                    ("no_auth", "no acceptable SASL mechanism"),
                    ("connection_failed", "connection failed"),
                    ("ssl_invalid_chain", "TLS certificate not trusted"),
                    ("stream_error", "stream error"),
                    ("disconnected", "disconnected before the session started")):
        c.add_event_handler(ev, bad(why))
    port = cfg.tls_port if use_ssl else cfg.port
    c.connect((cfg.host, port), use_ssl=use_ssl)
    try:
        await asyncio.wait_for(started, cfg.timeout)
    except asyncio.TimeoutError:
        hard_close(c)
        raise Failure(f"{local}@{cfg.domain}: no session within {cfg.timeout}s "
                      f"(port {port}, direct TLS {use_ssl}, mech {mech or 'auto'})")
    except Failure:
        hard_close(c)
        raise
    if roster:
        try:
            await c.get_roster(timeout=cfg.timeout)
        except (IqError, IqTimeout) as e:
            raise Failure(f"{c.full}: roster get failed: {describe_iq_exc(e)}")
    if presence:
        await send_initial_presence(c)
    return c


async def send_initial_presence(c):
    """Sends initial presence, then pings the server: stanzas from one
    session are processed in order (RFC 6120 §10.1), so once the pong is
    back the session is available and a message to the bare JID cannot race
    ahead of the presence into offline storage."""
    c.send_presence()
    await iq(c, "get", f"<ping xmlns='{NS_PING}'/>", to=c.cfg.domain, what="ping after initial presence")


def hard_close(c):
    """Drops a connection that never became a session."""
    c.cancel_connection_attempt()
    try:
        c.abort()
    except AttributeError:
        pass  # asyncio's SSL transport was already torn down by the server's close


async def login_fails(cfg, account, mech="SCRAM-SHA-1", use_ssl=False):
    """Returns why a login that must not succeed failed. One mechanism only,
    so each check costs the server's limiter one failure."""
    try:
        c = await connect(cfg, account, resource="neg", mech=mech, use_ssl=use_ssl,
                          presence=False, roster=False)
    except Failure as e:
        return str(e)
    await close(c)
    raise Failure(f"{account[0]}@{cfg.domain}: login with a wrong or removed password "
                  f"succeeded (mech {mech or 'auto'})")


async def close(*clients):
    for c in clients:
        if c is None or not c.transport:
            continue
        try:
            await asyncio.wait_for(c.disconnect(wait=2), c.cfg.timeout)
        except Exception:
            hard_close(c)


def describe_iq_exc(e):
    if isinstance(e, IqTimeout):
        return "timed out"
    err = e.iq["error"]
    return f"error type={err['type']} condition={err['condition']} text={err['text']!r}"


async def iq(c, typ, payload=None, to=None, what="iq"):
    """Sends an IQ and returns the result's XML; a stanza error fails."""
    req = c.Iq()
    req["type"] = typ
    if to:
        req["to"] = to
    if payload is not None:
        req.append(ET.fromstring(payload) if isinstance(payload, str) else payload)
    try:
        res = await req.send(timeout=c.cfg.timeout)
    except (IqError, IqTimeout) as e:
        raise Failure(f"{what}: {describe_iq_exc(e)}")
    return res.xml


async def iq_error(c, typ, payload=None, to=None, what="iq"):
    """Sends an IQ that must fail and returns (type, condition, error XML)."""
    req = c.Iq()
    req["type"] = typ
    if to:
        req["to"] = to
    if payload is not None:
        req.append(ET.fromstring(payload) if isinstance(payload, str) else payload)
    try:
        res = await req.send(timeout=c.cfg.timeout)
    except IqTimeout:
        raise Failure(f"{what}: no answer within {c.cfg.timeout}s (an error was expected)")
    except IqError as e:
        err = e.iq["error"]
        return err["type"], err["condition"], e.iq.xml.find(f"{{{NS_CLIENT}}}error")
    raise Failure(f"{what}: expected an error, got a result: {xml_str(res.xml)}")


def body_of(m):
    b = m.xml.find(f"{{{NS_CLIENT}}}body")
    return None if b is None else (b.text or "")


async def expect_push(c, jid, subscription, ask=None, what=""):
    def match(items):
        it = items.get(jid)
        return it is not None and it["subscription"] == subscription and it["ask"] == ask
    items = await c.inbox.take("roster_push", match, c.cfg.timeout,
                               f"{c.full}: roster push {jid} subscription={subscription} ask={ask} {what}")
    return items[jid]


async def expect_presence(c, frm, typ, what, bare=False, pred=None):
    def match(p):
        f = p["from"].bare if bare else p["from"].full
        return f == frm and p["type"] == typ and (pred is None or pred(p))
    return await c.inbox.take("presence", match, c.cfg.timeout,
                              f"{c.full}: presence type={typ} from {frm} ({what})")


async def befriend(a, b):
    """Makes a and b subscribed both ways and waits for it to settle."""
    a.send_presence(pto=b.bare, ptype="subscribe")
    await expect_presence(b, a.bare, "subscribe", "befriend", bare=True)
    b.send_presence(pto=a.bare, ptype="subscribed")
    b.send_presence(pto=a.bare, ptype="subscribe")
    await expect_presence(a, b.bare, "subscribe", "befriend", bare=True)
    a.send_presence(pto=b.bare, ptype="subscribed")
    await expect_push(a, b.bare, "both", what="(befriend)")
    await expect_push(b, a.bare, "both", what="(befriend)")
    await expect_presence(a, b.full, "available", "befriend")
    await expect_presence(b, a.full, "available", "befriend")
    await asyncio.sleep(0.2)
    a.inbox.clear()
    b.inbox.clear()


# ---------------------------------------------------------------- scenarios

async def scenario_sasl(cfg):
    """Every required SASL mechanism, ASCII and non-ASCII passwords, bad passwords."""
    accounts = cfg.need(2, "sasl")
    c = await connect(cfg, accounts[0], presence=False, roster=False)
    offered = sorted(c["feature_mechanisms"].mech_list)
    default = c["feature_mechanisms"].mech.name
    await close(c)
    missing = [m for m in cfg.mechs if m not in offered]
    check(not missing, f"server does not offer SASL mechanisms {missing}; offered {offered}")
    logins = []
    for mech in cfg.mechs:
        for acct in accounts:
            c = await connect(cfg, acct, mech=mech, presence=False, roster=False)
            used = c["feature_mechanisms"].mech.name
            check(used == mech, f"asked for {mech}, slixmpp used {used}")
            check(c.bare == f"{acct[0]}@{cfg.domain}", f"bound {c.full}, want {acct[0]}@{cfg.domain}/...")
            await iq(c, "get", f"<ping xmlns='{NS_PING}'/>", to=cfg.domain, what=f"ping after {mech}")
            await close(c)
            logins.append(f"{acct[0]}:{mech}")
        bad = (accounts[0][0], accounts[0][1] + "x")
        msg = await login_fails(cfg, bad, mech=mech)
        check("not-authorized" in msg, f"{mech} with a wrong password: want SASL not-authorized, got {msg}")
        # The non-ASCII password with one character changed must fail too.
        bad = (accounts[1][0], accounts[1][1].replace("ä", "a", 1) if "ä" in accounts[1][1] else accounts[1][1] + "ü")
        msg = await login_fails(cfg, bad, mech=mech)
        check("not-authorized" in msg, f"{mech} with a wrong non-ASCII password: want not-authorized, got {msg}")
    plus = [m for m in offered if m.endswith("-PLUS")]
    return {"offered": offered, "default_choice": default, "logins": logins,
            "plus_offered_not_exercised": plus}


async def scenario_roster(cfg):
    """Roster set/get and the whole subscription state machine (RFC 6121 §2–3)."""
    (a_acct, b_acct) = cfg.need(2, "roster")
    a = await connect(cfg, a_acct)
    b = await connect(cfg, b_acct)
    steps = []
    try:
        res = await iq(a, "get", f"<query xmlns='{NS_ROSTER}'/>", what="initial roster get")
        check(not roster_items(res), f"fresh account has roster items: {xml_str(res)}")
        name = "Bob ✓ <&> \"q\""
        a.update_roster(b.bare, name=name, groups=["Friends", "Ünïcode ✓"])
        it = await expect_push(a, b.bare, "none", what="after roster set")
        check(it["name"] == name, f"roster push name {it['name']!r}, want {name!r}")
        check(it["groups"] == sorted(["Friends", "Ünïcode ✓"]), f"roster push groups {it['groups']}")
        res = await iq(a, "get", f"<query xmlns='{NS_ROSTER}'/>", what="roster get after set")
        got = roster_items(res).get(b.bare)
        check(got and got["name"] == name and got["groups"] == it["groups"],
              f"roster get after set: {xml_str(res)}")
        steps.append("set+get")

        # 1. a subscribes to b.
        a.send_presence(pto=b.bare, ptype="subscribe")
        await expect_push(a, b.bare, "none", ask="subscribe", what="(a sent subscribe)")
        p = await expect_presence(b, a.bare, "subscribe", "subscription request", bare=True)
        check(p["from"].full == a.bare, f"subscribe must be stamped with the bare JID, got from={p['from']}")
        steps.append("subscribe")
        # 2. b approves: b has 'from', a has 'to' and gets b's presence.
        b.send_presence(pto=a.bare, ptype="subscribed")
        await expect_push(b, a.bare, "from", what="(b sent subscribed)")
        await expect_presence(a, b.bare, "subscribed", "approval", bare=True)
        await expect_push(a, b.bare, "to", what="(a got subscribed)")
        await expect_presence(a, b.full, "available", "b's presence after approval")
        steps.append("subscribed->to/from")
        # 3. b subscribes back; 4. a approves: both.
        b.send_presence(pto=a.bare, ptype="subscribe")
        await expect_push(b, a.bare, "from", ask="subscribe", what="(b sent subscribe)")
        await expect_presence(a, b.bare, "subscribe", "request back", bare=True)
        a.send_presence(pto=b.bare, ptype="subscribed")
        await expect_push(a, b.bare, "both", what="(a approved)")
        await expect_presence(b, a.bare, "subscribed", "approval back", bare=True)
        await expect_push(b, a.bare, "both", what="(b got subscribed)")
        await expect_presence(b, a.full, "available", "a's presence after approval")
        for c, other in ((a, b), (b, a)):
            res = await iq(c, "get", f"<query xmlns='{NS_ROSTER}'/>", what="roster get at both")
            got = roster_items(res).get(other.bare)
            check(got and got["subscription"] == "both" and got["ask"] is None,
                  f"{c.bare}'s roster should hold {other.bare} as both: {xml_str(res)}")
        steps.append("both")

        # 5. a unsubscribes from b: a keeps 'from', b keeps 'to'; a sees b go unavailable.
        a.send_presence(pto=b.bare, ptype="unsubscribe")
        await expect_push(a, b.bare, "from", what="(a sent unsubscribe)")
        await expect_presence(b, a.bare, "unsubscribe", "unsubscribe", bare=True)
        await expect_push(b, a.bare, "to", what="(b got unsubscribe)")
        await expect_presence(a, b.full, "unavailable", "b's presence withdrawn after unsubscribe")
        steps.append("unsubscribe")
        # 6. a cancels b's subscription: none on both sides; b sees a go unavailable.
        a.send_presence(pto=b.bare, ptype="unsubscribed")
        await expect_push(a, b.bare, "none", what="(a sent unsubscribed)")
        await expect_presence(b, a.bare, "unsubscribed", "unsubscribed", bare=True)
        await expect_push(b, a.bare, "none", what="(b got unsubscribed)")
        await expect_presence(b, a.full, "unavailable", "a's presence withdrawn after unsubscribed")
        steps.append("unsubscribed")

        # 7. removal.
        a.del_roster_item(b.bare)
        await expect_push(a, b.bare, "remove", what="(roster remove)")
        res = await iq(a, "get", f"<query xmlns='{NS_ROSTER}'/>", what="roster get after remove")
        check(b.bare not in roster_items(res), f"removed item still in roster: {xml_str(res)}")
        steps.append("remove")
    finally:
        await close(a, b)
    return {"steps": steps}


async def scenario_presence(cfg):
    """Show/status reach the contact; probes on login; unavailable on disconnect."""
    (a_acct, b_acct) = cfg.need(2, "presence")
    a = await connect(cfg, a_acct)
    b = await connect(cfg, b_acct)
    a2 = None
    try:
        await befriend(a, b)
        status = "out to lunch ✓ <&>"
        b.send_presence(pshow="away", pstatus=status)
        p = await expect_presence(a, b.full, "away", "away",
                                  pred=lambda p: p["status"] == status)
        check(p["show"] == "away", f"show {p['show']!r}")
        b.send_presence(pstatus="back")
        await expect_presence(a, b.full, "available", "available again",
                              pred=lambda p: p["status"] == "back" and not p["show"])
        # Probe on login: a new resource of a learns b's current presence.
        b.send_presence(pshow="dnd", pstatus="busy 😀")
        await expect_presence(a, b.full, "dnd", "dnd", pred=lambda p: p["status"] == "busy 😀")
        a2 = await connect(cfg, a_acct, resource="second")
        await expect_presence(a, a2.full, "available", "a's new resource announced to a's other resource")
        await expect_presence(a2, b.full, "dnd", "presence probe answered on login",
                              pred=lambda p: p["status"] == "busy 😀")
        # b learns of a's second resource.
        await expect_presence(b, a2.full, "available", "broadcast of a's new resource")
        # Unavailable on disconnect, to every resource of the contact.
        await close(b)
        await expect_presence(a, b.full, "unavailable", "b disconnected")
        await expect_presence(a2, b.full, "unavailable", "b disconnected (second resource)")
        # RFC 6121 §4.2.2: initial presence goes to all of the user's
        # available resources, the one that sent it included.
        await expect_presence(a2, a2.full, "available", "own initial presence reflected (RFC 6121 §4.2.2)")
    finally:
        await close(a, a2, b)
    return {"checked": ["away+status", "available", "probe", "new-resource broadcast", "unavailable",
                        "self-reflection"]}


async def exchange(sender, receiver, bodies, to):
    """Sends bodies with an extension payload; checks order, bytes and addressing."""
    ids = []
    for i, body in enumerate(bodies):
        m = sender.make_message(mto=to, mbody=body, mtype="chat")
        m["id"] = f"m{i}-{sender.local}"
        ext = ET.Element(f"{{{NS_INTEROP}}}payload", {"attr": "<&\"'> ✓", "n": str(i)})
        ext.text = "ext <&> 😀"
        m.append(ext)
        m.send()
        ids.append(m["id"])
    got = []
    for i in range(len(bodies)):
        m = await receiver.inbox.take(
            "message", lambda m: m["from"].full == sender.full and m["type"] == "chat",
            receiver.cfg.timeout, f"{receiver.full}: message {i} from {sender.full}")
        got.append(m)
    for i, (m, body) in enumerate(zip(got, bodies)):
        b = body_of(m)
        if b != body:
            at = next((k for k, (x, y) in enumerate(zip(b or "", body)) if x != y), min(len(b or ""), len(body)))
            raise Failure(f"message {i} {sender.bare}->{receiver.bare} body differs at char {at}: "
                          f"got {short((b or '')[at:at + 40])}, want {short(body[at:at + 40])} "
                          f"(len {len(b or '')} vs {len(body)}, id {m['id']})")
        check(m["id"] == ids[i], f"message {i}: id {m['id']!r}, want {ids[i]!r} (order or id changed)")
        check(m["to"].bare == receiver.bare, f"message {i}: to={m['to']}")
        ext = m.xml.find(f"{{{NS_INTEROP}}}payload")
        check(ext is not None, f"message {i}: extension payload dropped: {xml_str(m.xml)[:300]}")
        check(ext.get("attr") == "<&\"'> ✓" and ext.get("n") == str(i) and ext.text == "ext <&> 😀",
              f"message {i}: extension payload changed: {xml_str(ext)}")
    return len(got)


async def scenario_messages(cfg):
    """Messages both ways, to bare and full JIDs, byte-exact bodies and payloads."""
    (a_acct, b_acct) = cfg.need(2, "messages")
    a = await connect(cfg, a_acct)
    b = await connect(cfg, b_acct)
    try:
        n = await exchange(a, b, BODIES, b.bare)
        n += await exchange(b, a, BODIES, a.bare)
        n += await exchange(a, b, BODIES[:3], b.full)
        n += await exchange(b, a, BODIES[:3], a.full)
        check(not a.errors and not b.errors, f"stream errors: {a.errors + b.errors}")
    finally:
        await close(a, b)
    return {"messages": n, "largest_body_chars": max(len(x) for x in BODIES)}


def delay_stamp(m):
    d = m.xml.find(f"{{{NS_DELAY}}}delay")
    if d is None:
        return None, None
    stamp = d.get("stamp", "")
    try:
        t = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise Failure(f"delay stamp {stamp!r} is not XEP-0082 DateTime")
    check(t.tzinfo is not None, f"delay stamp {stamp!r} has no time zone")
    return t, d.get("from")


async def scenario_offline(cfg):
    """Messages to an offline user are stored and delivered with a delay stamp."""
    (a_acct, b_acct) = cfg.need(2, "offline")
    bodies = [BODIES[1], BODIES[4], BODIES[5], "last ✓"]
    t0 = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=2)
    a = await connect(cfg, a_acct)
    bob = f"{b_acct[0]}@{cfg.domain}"
    try:
        for i, body in enumerate(bodies):
            m = a.make_message(mto=bob, mbody=body, mtype="chat" if i % 2 == 0 else "normal")
            m["id"] = f"off{i}"
            m.send()
        await iq(a, "get", f"<ping xmlns='{NS_PING}'/>", to=cfg.domain, what="ping after sending")
    finally:
        await close(a)
    b = await connect(cfg, b_acct, presence=False)
    details = {}
    try:
        await send_initial_presence(b)
        stamps = []
        for i, body in enumerate(bodies):
            m = await b.inbox.take("message", lambda m: m["from"].bare == f"{a_acct[0]}@{cfg.domain}",
                                   cfg.timeout, f"offline message {i}")
            check(body_of(m) == body, f"offline message {i}: body {short(body_of(m))}, want {short(body)} "
                                      f"(order kept? id {m['id']})")
            check(m["id"] == f"off{i}", f"offline message {i}: id {m['id']!r}")
            t, frm = delay_stamp(m)
            check(t is not None, f"offline message {i} has no XEP-0203 delay: {xml_str(m.xml)[:400]}")
            now = datetime.datetime.now(datetime.timezone.utc)
            check(t0 <= t <= now, f"offline message {i}: delay stamp {t} outside [{t0}, {now}]")
            stamps.append(t.isoformat())
            details.setdefault("delay_from", frm)
        await b.inbox.absent("message", lambda m: True, cfg.quiet, "offline message delivered twice")
    finally:
        await close(b)
    # Delivered messages are gone from offline storage.
    b = await connect(cfg, b_acct)
    try:
        await b.inbox.absent("message", lambda m: body_of(m) is not None, cfg.quiet,
                             "offline messages redelivered on the next login")
    finally:
        await close(b)
    details["stamps"] = stamps
    return details


def disco_info(res):
    q = res.find(f"{{{NS_DISCO_INFO}}}query")
    check(q is not None, f"disco#info result has no query: {xml_str(res)}")
    ids = sorted(f"{i.get('category')}/{i.get('type')}" for i in q.findall(f"{{{NS_DISCO_INFO}}}identity"))
    feats = sorted(f.get("var") for f in q.findall(f"{{{NS_DISCO_INFO}}}feature"))
    return ids, feats


async def scenario_disco(cfg):
    """disco#info/#items on the server and on the account; unknown IQs are refused."""
    (a_acct,) = cfg.need(1, "disco")
    a = await connect(cfg, a_acct)
    try:
        res = await iq(a, "get", f"<query xmlns='{NS_DISCO_INFO}'/>", to=cfg.domain, what="server disco#info")
        ids, feats = disco_info(res)
        check("server/im" in ids, f"server identity server/im missing: {ids}")
        want = ["http://jabber.org/protocol/disco#info", NS_BLOCKING, NS_PING, NS_VCARD]
        missing = [f for f in want if f not in feats]
        check(not missing, f"server disco#info lacks {missing}; has {feats}")
        check(len(feats) == len(set(feats)), f"duplicate server features: {feats}")
        res = await iq(a, "get", f"<query xmlns='{NS_DISCO_ITEMS}'/>", to=cfg.domain, what="server disco#items")
        check(res.find(f"{{{NS_DISCO_ITEMS}}}query") is not None, f"disco#items: {xml_str(res)}")
        res = await iq(a, "get", f"<query xmlns='{NS_DISCO_INFO}'/>", to=a.bare, what="account disco#info")
        aids, afeats = disco_info(res)
        check("account/registered" in aids, f"account identity account/registered missing: {aids}")
        check("pubsub/pep" in aids, f"account identity pubsub/pep (XEP-0163) missing: {aids}")
        typ, cond, _ = await iq_error(a, "get", "<query xmlns='urn:example:no-such-namespace'/>",
                                      to=cfg.domain, what="unknown IQ namespace to the server")
        check(cond in ("service-unavailable", "feature-not-implemented"),
              f"unknown IQ namespace: condition {cond}, want service-unavailable")
    finally:
        await close(a)
    return {"server_identities": ids, "server_features": feats,
            "account_identities": aids, "account_features": afeats}


VCARD1 = (f"<vCard xmlns='{NS_VCARD}'><FN>Alice Ærø ✓</FN>"
          "<N><FAMILY>Ærø</FAMILY><GIVEN>Alice</GIVEN></N>"
          "<NICKNAME>&lt;al&amp;ice&gt; \"q\" 'a' 😀</NICKNAME>"
          "<URL>https://example.org/?a=1&amp;b=2</URL>"
          "<DESC>line one\nline two ]]&gt;</DESC></vCard>")
VCARD2 = f"<vCard xmlns='{NS_VCARD}'><FN>Replaced ✓</FN></vCard>"


def vcard_fields(res):
    v = res.find(f"{{{NS_VCARD}}}vCard")
    check(v is not None, f"no vCard in result: {xml_str(res)}")
    out = {}
    for el in v.iter():
        if el is v:
            continue
        tag = el.tag.split("}")[-1]
        if len(el) == 0:
            out[tag] = el.text or ""
    return out


async def scenario_vcard(cfg):
    """vcard-temp set, get from another resource and by a contact, replace."""
    (a_acct, b_acct) = cfg.need(2, "vcard")
    a = await connect(cfg, a_acct)
    b = await connect(cfg, b_acct)
    a2 = None
    try:
        # XEP-0054 §3.1: no vCard yet is an empty vCard or item-not-found.
        req = b.Iq()
        req["type"] = "get"
        req.append(ET.fromstring(f"<vCard xmlns='{NS_VCARD}'/>"))
        try:
            res = await req.send(timeout=cfg.timeout)
            empty = vcard_fields(res.xml)
            check(not empty, f"fresh account has vCard fields {empty}")
            no_vcard = "empty vCard"
        except IqError as e:
            no_vcard = e.iq["error"]["condition"]
            check(no_vcard == "item-not-found", f"vcard get with none stored: {describe_iq_exc(e)}")
        except IqTimeout:
            raise Failure("vcard get with none stored: timed out")
        await iq(a, "set", VCARD1, what="vcard set")
        want = vcard_fields(ET.fromstring(f"<iq xmlns='{NS_CLIENT}'>{VCARD1}</iq>"))
        a2 = await connect(cfg, a_acct, resource="second")
        got = vcard_fields(await iq(a2, "get", f"<vCard xmlns='{NS_VCARD}'/>", what="own vcard get"))
        check(got == want, f"own vcard: got {got}, want {want}")
        got = vcard_fields(await iq(b, "get", f"<vCard xmlns='{NS_VCARD}'/>", to=a.bare, what="contact vcard get"))
        check(got == want, f"vcard fetched by {b.bare}: got {got}, want {want}")
        await iq(a, "set", VCARD2, what="vcard replace")
        got = vcard_fields(await iq(b, "get", f"<vCard xmlns='{NS_VCARD}'/>", to=a.bare, what="vcard get after replace"))
        check(got == {"FN": "Replaced ✓"}, f"replaced vcard: got {got}")
    finally:
        await close(a, a2, b)
    return {"fields": sorted(want), "no_vcard": no_vcard}


PRIV1 = "<prefs xmlns='urn:example:parley:prefs'><nick>Hamlet ✓ &lt;&amp;&gt;</nick><n a='&quot;1&quot;'/></prefs>"
PRIV2 = "<other xmlns='urn:example:parley:other'>second 😀</other>"


async def scenario_private(cfg):
    """XEP-0049 private XML storage: set, get per namespace, isolation."""
    (a_acct, b_acct) = cfg.need(2, "private")
    a = await connect(cfg, a_acct)
    a2 = b = None
    try:
        await iq(a, "set", f"<query xmlns='{NS_PRIVATE}'>{PRIV1}</query>", what="private set 1")
        await iq(a, "set", f"<query xmlns='{NS_PRIVATE}'>{PRIV2}</query>", what="private set 2")
        a2 = await connect(cfg, a_acct, resource="second")
        res = await iq(a2, "get", f"<query xmlns='{NS_PRIVATE}'><prefs xmlns='urn:example:parley:prefs'/></query>",
                       what="private get 1")
        prefs = res.find(f"{{{NS_PRIVATE}}}query/{{urn:example:parley:prefs}}prefs")
        check(prefs is not None, f"private get 1: {xml_str(res)}")
        nick = prefs.find("{urn:example:parley:prefs}nick")
        n = prefs.find("{urn:example:parley:prefs}n")
        check(nick is not None and nick.text == "Hamlet ✓ <&>" and n is not None and n.get("a") == '"1"',
              f"private data changed: {xml_str(prefs)}")
        res = await iq(a2, "get", f"<query xmlns='{NS_PRIVATE}'><other xmlns='urn:example:parley:other'/></query>",
                       what="private get 2")
        other = res.find(f"{{{NS_PRIVATE}}}query/{{urn:example:parley:other}}other")
        check(other is not None and other.text == "second 😀", f"private get 2: {xml_str(res)}")
        res = await iq(a2, "get", f"<query xmlns='{NS_PRIVATE}'><none xmlns='urn:example:parley:none'/></query>",
                       what="private get of an unset namespace")
        none = res.find(f"{{{NS_PRIVATE}}}query/{{urn:example:parley:none}}none")
        check(none is not None and len(none) == 0 and not (none.text or "").strip(),
              f"unset namespace should come back empty: {xml_str(res)}")
        b = await connect(cfg, b_acct)
        res = await iq(b, "get", f"<query xmlns='{NS_PRIVATE}'><prefs xmlns='urn:example:parley:prefs'/></query>",
                       what="private get by another user")
        prefs = res.find(f"{{{NS_PRIVATE}}}query/{{urn:example:parley:prefs}}prefs")
        check(prefs is not None and len(prefs) == 0, f"another user's private storage leaked: {xml_str(res)}")
        typ, cond, _ = await iq_error(b, "get", f"<query xmlns='{NS_PRIVATE}'><prefs xmlns='urn:example:parley:prefs'/></query>",
                                      to=a.bare, what="private get addressed to another account")
    finally:
        await close(a, a2, b)
    return {"foreign_get_error": cond}


async def scenario_blocking(cfg):
    """XEP-0191: block, pushes, no delivery either way, unavailable presence, unblock."""
    (a_acct, b_acct) = cfg.need(2, "blocking")
    a = await connect(cfg, a_acct)
    b = await connect(cfg, b_acct)
    a2 = None
    details = {}
    try:
        await befriend(a, b)
        a2 = await connect(cfg, a_acct, resource="second")
        res = await iq(a2, "get", f"<blocklist xmlns='{NS_BLOCKING}'/>", what="blocklist get (empty)")
        check(len(res.find(f"{{{NS_BLOCKING}}}blocklist")) == 0, f"fresh blocklist not empty: {xml_str(res)}")
        await asyncio.sleep(0.2)
        b.inbox.clear()
        pushed = asyncio.get_running_loop().create_future()
        a2.register_handler(Callback("block-push", MatchXPath(f"{{{NS_CLIENT}}}iq/{{{NS_BLOCKING}}}block"),
                                     lambda s: pushed.done() or pushed.set_result(s)))
        await iq(a, "set", f"<block xmlns='{NS_BLOCKING}'><item jid='{b.bare}'/></block>", what="block")
        try:
            push = await asyncio.wait_for(pushed, cfg.timeout)
        except asyncio.TimeoutError:
            raise Failure("no block push to the other resource that requested the blocklist")
        check(push["type"] == "set", f"block push type {push['type']}")
        res = await iq(a, "get", f"<blocklist xmlns='{NS_BLOCKING}'/>", what="blocklist get")
        items = [i.get("jid") for i in res.iter(f"{{{NS_BLOCKING}}}item")]
        check(items == [b.bare], f"blocklist {items}, want [{b.bare}]")
        await expect_presence(b, a.full, "unavailable", "a blocked b: a must appear offline")
        b.send_message(mto=a.bare, mbody="from blocked b", mtype="chat")
        a.send_message(mto=b.bare, mbody="to blocked b", mtype="chat")
        for c in (a, a2):
            await c.inbox.absent("message", lambda m: body_of(m) == "from blocked b", cfg.quiet,
                                 f"{c.full} received a message from a blocked JID")
        await b.inbox.absent("message", lambda m: body_of(m) == "to blocked b", 0,
                             "a message to a blocked JID was delivered")
        bounced = [o for k, o in b.inbox.items if k == "message" and o["type"] == "error"]
        details["inbound_blocked_error"] = bounced[0]["error"]["condition"] if bounced else None
        await iq(a, "set", f"<unblock xmlns='{NS_BLOCKING}'><item jid='{b.bare}'/></unblock>", what="unblock")
        res = await iq(a, "get", f"<blocklist xmlns='{NS_BLOCKING}'/>", what="blocklist get after unblock")
        check(not list(res.iter(f"{{{NS_BLOCKING}}}item")), f"blocklist after unblock: {xml_str(res)}")
        b.send_message(mto=a.bare, mbody="after unblock ✓", mtype="chat")
        await a.inbox.take("message", lambda m: body_of(m) == "after unblock ✓", cfg.timeout,
                           "message after unblock")
        details["presence_after_unblock"] = any(
            k == "presence" and o["from"].bare == a.bare and o["type"] != "unavailable" for k, o in b.inbox.items)
        # XEP-0191 §3.3: the message a sent to b while b was blocked came back
        # as a not-acceptable error (checked last: it arrived long ago).
        err = await a.inbox.take("message", lambda m: m["type"] == "error" and m["from"].bare == b.bare,
                                 cfg.timeout, "not-acceptable error for the message to a blocked contact")
        e = err.xml.find(f"{{{NS_CLIENT}}}error")
        check(e is not None and e.find(f"{{{NS_STANZAS}}}not-acceptable") is not None,
              f"message to a blocked JID: want not-acceptable, got {xml_str(e)}")
        details["blocked_error_child"] = e.find(f"{{{NS_BLOCKING_ERRORS}}}blocked") is not None
    finally:
        await close(a, a2, b)
    return details


async def scenario_pep(cfg):
    """XEP-0163: a contact with nick+notify in its caps receives a published nick."""
    (a_acct, b_acct) = cfg.need(2, "pep")
    a = await connect(cfg, a_acct)
    b = await connect(cfg, b_acct)
    b2 = None
    nick = "Älice ✓ <&> 😀"
    try:
        await befriend(a, b)
        await close(b)
        b2 = await connect(cfg, b_acct, resource="notify", presence=False, plugins=("xep_0115", "xep_0163", "xep_0172"))
        await b2["xep_0115"].update_caps(broadcast=False)
        await send_initial_presence(b2)
        await iq(a, "set",
                 f"<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{NS_NICK}'>"
                 f"<item id='current'><nick xmlns='{NS_NICK}'>&lt;ignored&gt;</nick></item></publish></pubsub>",
                 what="PEP publish (first)")
        await iq(a, "set",
                 f"<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{NS_NICK}'>"
                 f"<item id='current'><nick xmlns='{NS_NICK}'>{nick.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</nick></item></publish></pubsub>",
                 what="PEP publish")

        def is_nick(m):
            if m["from"].bare != a.bare:
                return False
            n = m.xml.find(f"{{{NS_PUBSUB_EVENT}}}event/{{{NS_PUBSUB_EVENT}}}items/{{{NS_PUBSUB_EVENT}}}item/{{{NS_NICK}}}nick")
            return n is not None and n.text == nick
        m = await b2.inbox.take("message", is_nick, cfg.timeout, "PEP +notify event with the new nick")
        items = m.xml.find(f"{{{NS_PUBSUB_EVENT}}}event/{{{NS_PUBSUB_EVENT}}}items")
        check(items.get("node") == NS_NICK, f"event node {items.get('node')}")
        # The publisher's own resource with no +notify interest gets nothing.
    finally:
        await close(a, b, b2)
    return {"node": NS_NICK, "event_from": str(m["from"]), "event_type": m["type"]}


async def scenario_ping(cfg):
    """XEP-0199 to the server and to a client; IQ routing errors (RFC 6121 §8.5)."""
    (a_acct, b_acct) = cfg.need(2, "ping")
    a = await connect(cfg, a_acct)
    b = await connect(cfg, b_acct)
    try:
        res = await iq(a, "get", f"<ping xmlns='{NS_PING}'/>", to=cfg.domain, what="ping server")
        check(res.get("type") == "result", f"ping: {xml_str(res)}")
        rtt = await a["xep_0199"].ping(jid=b.full, timeout=cfg.timeout)
        typ, cond, _ = await iq_error(a, "get", "<query xmlns='urn:example:parley:unknown'/>",
                                      to=f"nobody-here@{cfg.domain}", what="IQ to a nonexistent account")
        check(cond == "service-unavailable", f"IQ to a nonexistent account: {cond}, want service-unavailable")
        typ, cond2, _ = await iq_error(a, "get", f"<ping xmlns='{NS_PING}'/>", to=f"{b.bare}/no-such-resource",
                                       what="ping to an unbound resource")
        check(cond2 == "service-unavailable", f"IQ to an unbound full JID: {cond2}, want service-unavailable")
    finally:
        await close(a, b)
    return {"client_rtt_s": round(rtt, 4)}


async def scenario_register(cfg):
    """XEP-0077: register (and a conflict), log in, change password, cancel."""
    (existing, new) = cfg.need(2, "register")
    new_pw2 = "nëw pässwörd ✓"
    details = {}

    async def on_register(form):
        c = reg
        try:
            fields = form["register"]["fields"]
            details["form_fields"] = sorted(fields)
            check("username" in fields and "password" in fields,
                  f"registration form lacks username/password: {xml_str(form.xml)}")
            typ, cond, _ = await iq_error(
                c, "set", f"<query xmlns='jabber:iq:register'><username>{existing[0]}</username>"
                          f"<password>whatever</password></query>", what="register an existing username")
            check(cond == "conflict", f"registering an existing username: {cond}, want conflict")
            await iq(c, "set", f"<query xmlns='jabber:iq:register'><username>{new[0]}</username>"
                               f"<password>{new[1]}</password></query>", what="register")
            details["registered"] = True
        except Failure as e:
            reg_err.append(str(e))
            hard_close(c)

    reg_err = []
    reg = None

    def before(c):
        nonlocal reg
        reg = c
        c.add_event_handler("register", on_register)
        # slixmpp 1.8 holds back every stanza sent before the session starts,
        # including the registration IQs its own XEP-0077 plugin sends.
        c._always_send_everything = True

    try:
        c = await connect(cfg, new, resource="reg", plugins=("xep_0077",), before=before)
    except Failure as e:
        if reg_err:
            raise Failure(reg_err[0])
        if not details.get("registered"):
            raise Failure(f"registration did not run (is the iq-register stream feature advertised?): {e}")
        raise
    check(details.get("registered"), "the server did not advertise the iq-register stream feature (XEP-0077 §8)")
    try:
        check(c.bare == f"{new[0]}@{cfg.domain}", f"bound {c.full}")
        await iq(c, "set", f"<query xmlns='jabber:iq:register'><username>{new[0]}</username>"
                           f"<password>{new_pw2}</password></query>", what="change password")
    finally:
        await close(c)
    msg = await login_fails(cfg, new)
    check("not-authorized" in msg, f"old password after change: {msg}")
    c = await connect(cfg, (new[0], new_pw2))
    try:
        req = c.Iq()
        req["type"] = "set"
        req.append(ET.fromstring("<query xmlns='jabber:iq:register'><remove/></query>"))
        # The server answers with a result, or (XEP-0077 §3.2) closes the
        # stream of the account it just removed, possibly before the result.
        answer = asyncio.ensure_future(req.send(timeout=cfg.timeout))
        gone = c.disconnected  # slixmpp replaces the future when it resolves
        done, _ = await asyncio.wait({answer, gone}, timeout=cfg.timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if answer in done:
            try:
                answer.result()
                details["cancel"] = "result"
            except IqError as e:
                raise Failure(f"cancel registration: {describe_iq_exc(e)}")
            except IqTimeout:
                raise Failure("cancel registration: no answer")
        elif gone in done:
            answer.cancel()
            details["cancel"] = "stream closed"
        else:
            answer.cancel()
            raise Failure(f"cancel registration: no answer and the stream stayed open for {cfg.timeout}s")
    finally:
        await close(c)
    msg = await login_fails(cfg, (new[0], new_pw2))
    check("not-authorized" in msg, f"login after account removal: {msg}")
    return details


async def scenario_directtls(cfg):
    """XEP-0368 direct TLS: log in on the xmpps port and talk to a STARTTLS client."""
    (a_acct, b_acct) = cfg.need(2, "directtls")
    a = await connect(cfg, a_acct, use_ssl=True)
    b = await connect(cfg, b_acct)
    try:
        sslobj = a.transport.get_extra_info("ssl_object")
        check(sslobj is not None, "direct TLS client has no TLS transport")
        version = sslobj.version()
        mech = a["feature_mechanisms"].mech.name
        n = await exchange(a, b, BODIES[:4], b.bare)
        n += await exchange(b, a, BODIES[:4], a.bare)
        await iq(a, "get", f"<ping xmlns='{NS_PING}'/>", to=cfg.domain, what="ping over direct TLS")
    finally:
        await close(a, b)
    return {"tls_version": version, "mech": mech, "messages": n}


SCENARIOS = {
    "sasl": scenario_sasl,
    "roster": scenario_roster,
    "presence": scenario_presence,
    "messages": scenario_messages,
    "offline": scenario_offline,
    "disco": scenario_disco,
    "vcard": scenario_vcard,
    "private": scenario_private,
    "blocking": scenario_blocking,
    "pep": scenario_pep,
    "ping": scenario_ping,
    "register": scenario_register,
    "directtls": scenario_directtls,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True, help="STARTTLS (xmpp) port")
    ap.add_argument("--tls-port", type=int, default=0, help="direct TLS (xmpps) port")
    ap.add_argument("--domain", default="localhost")
    ap.add_argument("--cafile", help="PEM certificate to trust; without it TLS is not verified")
    ap.add_argument("--account", action="append", default=[], help="LOCAL:PASSWORD (repeatable)")
    ap.add_argument("--mechs", default="SCRAM-SHA-256,SCRAM-SHA-1,PLAIN",
                    help="SASL mechanisms the server must offer and that are each exercised")
    ap.add_argument("--timeout", type=float, default=10, help="seconds per step")
    ap.add_argument("--quiet-period", type=float, default=1.0,
                    help="seconds to watch for stanzas that must not arrive")
    ap.add_argument("--total-timeout", type=float, default=120)
    ap.add_argument("-v", "--verbose", action="store_true", help="log the XML streams to stderr")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    cfg = Config(args)
    if args.scenario == "directtls" and not cfg.tls_port:
        raise SystemExit("directtls needs --tls-port")

    async def run():
        return await asyncio.wait_for(SCENARIOS[args.scenario](cfg), args.total_timeout)

    try:
        details = asyncio.run(run())
    except Failure as e:
        fail(args.scenario, str(e))
    except asyncio.TimeoutError:
        fail(args.scenario, f"scenario did not finish within {args.total_timeout}s")
    except Exception as e:  # a bug in the script or an unexpected library error
        logging.exception("unexpected error")
        fail(args.scenario, f"unexpected {type(e).__name__}: {e}")
    print(json.dumps({"scenario": args.scenario, "ok": True, "details": details}, ensure_ascii=False))


def fail(scenario, msg):
    print(json.dumps({"scenario": scenario, "ok": False, "error": msg}, ensure_ascii=False))
    print(f"slixmpp {scenario}: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
