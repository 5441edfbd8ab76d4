// Tests of claim.js against the real example server (demo mode) on both
// rails, through a stand-in for the mini program's wx API. Run from the
// repository root:
//
//	node --test example/miniprogram/claim.test.js
//
// Needs Node 18 or later and Go: the example server is built once into a
// temporary folder and started on a free loopback port.

'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const claim = require('./claim.js');

const root = path.resolve(__dirname, '..', '..');

// The demo platform's credentials (transport/wxpaytest DefaultAPIKey and
// DefaultAppID).
const DEMO_API_KEY = 'wxpaytest0key0for0tests0only0000';
const DEMO_APP_ID = 'wx8888888888888888';

const PAYMENT_KEYS = ['nonceStr', 'package', 'paySign', 'signType', 'timeStamp'];
const TRANSFER_KEYS = ['appId', 'mchId', 'package'];
const DEMO_MCH_ID = '1900000109';

// paySignOf is the default rule of the server: MD5 over appId, nonceStr,
// package (URL-encoded, as received) and timeStamp, then &key=, in
// lower-case hex.
function paySignOf(p) {
  const s = 'appId=' + DEMO_APP_ID + '&nonceStr=' + p.nonceStr + '&package=' + p.package +
    '&timeStamp=' + p.timeStamp + '&key=' + DEMO_API_KEY;
  return crypto.createHash('md5').update(s, 'utf8').digest('hex');
}

// fakeWx is a stand-in for the wx API. scene is the launch scene it
// reports; sentScene, when set, replaces the scene in the request body (a
// client that lies to the server); open is what wx.sendBizRedPacket does
// after checking its parameters: 'success' or an errMsg to fail with.
// language is the client's (wx.getAppBaseInfo().language). codeUrl is
// where wx.login gets its code (the example's GET /demo/code, standing in
// for WeChat); without one wx.login fails. storage is wx's storage.
// confirmUrl, when set, gives the client wx.requestMerchantTransfer (base
// library 3.3.0+): it checks its parameters and confirms the bill at the
// demo's stand-in for the user's confirmation (the fake platform's
// confirm endpoint, POST /demo/confirm), with openId the user, when
// confirm is 'success'; otherwise it fails with confirm as errMsg.
// transferApi false leaves the API out (an older WeChat).
function fakeWx({ scene, sentScene, enterOptions = true, open = 'success', language = 'zh_CN', codeUrl, storage = new Map(),
  confirmUrl, confirm = 'success', openId, transferApi = true }) {
  const rec = { requests: [], modals: [], toasts: [], packets: [], transfers: [], confirmed: [], problems: [], loading: 0, logins: 0, storage };
  const apis = ['sendBizRedPacket'];
  if (confirmUrl && transferApi) apis.push('requestMerchantTransfer');
  const wx = {
    rec,
    canIUse: (name) => apis.includes(name),
    getAppBaseInfo: () => ({ language, SDKVersion: '3.7.0' }),
    getStorageSync: (k) => (storage.has(k) ? storage.get(k) : ''),
    setStorageSync: (k, v) => { storage.set(k, v); },
    removeStorageSync: (k) => { storage.delete(k); },
    login(o) {
      rec.logins++;
      if (!codeUrl) {
        setImmediate(() => o.fail({ errMsg: 'login:fail' }));
        return;
      }
      fetch(codeUrl).then((r) => r.json()).then((b) => o.success({ code: b.code, errMsg: 'login:ok' }),
        (err) => o.fail({ errMsg: 'login:fail ' + err.message }));
    },
    getLaunchOptionsSync: () => ({ scene, path: 'pages/index/index', query: {} }),
    showLoading: () => { rec.loading++; },
    hideLoading: () => { rec.loading--; },
    showModal: (o) => { rec.modals.push(o.content); },
    showToast: (o) => { rec.toasts.push(o.title); },
    request(o) {
      rec.requests.push(o);
      let data = o.data;
      if (sentScene !== undefined) data = { ...data, scene: sentScene };
      const body = typeof data === 'string' ? data : JSON.stringify(data);
      fetch(o.url, { method: o.method, headers: o.header, body, signal: AbortSignal.timeout(60000) })
        .then(async (r) => {
          const text = await r.text();
          let parsed = text;
          try { parsed = JSON.parse(text); } catch (_) { /* left as text, as wx does */ }
          return { statusCode: r.status, data: parsed, header: Object.fromEntries(r.headers) };
        })
        .then((res) => o.success(res), (err) => o.fail({ errMsg: 'request:fail ' + err.message }));
    },
    sendBizRedPacket(o) {
      const p = {};
      for (const k of Object.keys(o)) {
        if (k === 'success' || k === 'fail' || k === 'complete') continue;
        p[k] = o[k];
      }
      rec.packets.push(p);
      const problem = (m) => rec.problems.push(m + ': ' + JSON.stringify(p));
      if (JSON.stringify(Object.keys(p).sort()) !== JSON.stringify(PAYMENT_KEYS)) problem('not exactly the five parameters');
      for (const k of PAYMENT_KEYS) if (typeof p[k] !== 'string') problem(k + ' is not a string');
      if (!/^\d+$/.test(p.timeStamp)) problem('timeStamp is not a decimal string');
      else if (Math.abs(Number(p.timeStamp) - Date.now() / 1000) > 300) problem('timeStamp is not now');
      if (p.signType !== 'MD5') problem('signType is not MD5');
      if (!p.nonceStr || p.nonceStr.length > 32) problem('nonceStr is empty or longer than 32');
      if (/[&=]/.test(p.package) || !decodeURIComponent(p.package).startsWith('sendid=')) problem('package is not URL-encoded');
      if (p.paySign !== paySignOf(p)) problem('paySign does not verify');
      setImmediate(() => {
        if (open === 'success' && rec.problems.length === 0) o.success({ errMsg: 'sendBizRedPacket:ok' });
        else o.fail({ errMsg: open === 'success' ? 'sendBizRedPacket:fail 签名错误' : open });
      });
    },
  };
  if (confirmUrl && transferApi) {
    wx.requestMerchantTransfer = (o) => {
      const p = {};
      for (const k of Object.keys(o)) {
        if (k === 'success' || k === 'fail' || k === 'complete') continue;
        p[k] = o[k];
      }
      rec.transfers.push(p);
      const problem = (m) => rec.problems.push(m + ': ' + JSON.stringify(p));
      if (JSON.stringify(Object.keys(p).sort()) !== JSON.stringify(TRANSFER_KEYS)) problem('not exactly mchId, appId and package');
      for (const k of TRANSFER_KEYS) if (typeof p[k] !== 'string' || p[k] === '') problem(k + ' is not a string');
      if (p.appId !== DEMO_APP_ID || p.mchId !== DEMO_MCH_ID) problem('another merchant or appid');
      if (confirm !== 'success' || rec.problems.length > 0) {
        setImmediate(() => o.fail({ errMsg: confirm === 'success' ? 'requestMerchantTransfer:fail invalid params' : confirm }));
        return;
      }
      fetch(confirmUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...p, openId }) })
        .then(async (r) => ({ status: r.status, body: await r.json() }))
        .then(({ status, body }) => {
          rec.confirmed.push(body);
          if (status === 200 && body.errMsg === 'requestMerchantTransfer:ok') o.success({ errMsg: body.errMsg });
          else o.fail({ errMsg: body.errMsg || 'requestMerchantTransfer:fail ' + status });
        }, (err) => o.fail({ errMsg: 'requestMerchantTransfer:fail ' + err.message }));
    };
  }
  if (enterOptions) wx.getEnterOptionsSync = () => ({ scene, path: 'pages/index/index', query: {} });
  return wx;
}

// buildExample builds the example server once into a temporary folder; it
// returns {bin, dir}.
let built;
function buildExample() {
  if (built) return built;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hongbao-claimjs-'));
  const bin = path.join(dir, 'example');
  const build = spawnSync('go', ['build', '-o', bin, './example'], { cwd: root, encoding: 'utf8', timeout: 600000 });
  if (build.status !== 0) {
    throw new Error('go build ./example failed: ' + (build.error || build.stderr || build.status));
  }
  built = { bin, dir };
  return built;
}

// startExample starts the example server in demo mode on a free loopback
// port, with the variables of extra (HONGBAO_RAIL, ...); it resolves to
// {child, url, token, base, loginUrl}.
async function startExample(extra = {}) {
  const { bin } = buildExample();
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HONGBAO_')) env[k] = v;
  Object.assign(env, extra);
  env.HONGBAO_ADDR = '127.0.0.1:0';
  const child = spawn(bin, [], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (b) => { out += b; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the example server printed no token and URL in 30 s:\n' + out));
    }, 30000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error('the example server exited (' + code + '):\n' + out));
    });
    child.stdout.on('data', (b) => {
      out += b;
      const token = /^demo token \(HS256, sub=\S+, expires [^)]+\):\n(\S+)$/m.exec(out);
      const url = /^curl .* (http:\/\/\S+\/hongbao\/send)$/m.exec(out);
      if (token && url) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.stdout.removeAllListeners('data');
        child.stdout.resume(); // keep reading its log
        const base = url[1].replace(/\/hongbao\/send$/, '');
        resolve({ child, url: url[1], token: token[1], base, loginUrl: base + '/hongbao/login' });
      }
    });
  });
}

// A local server that answers every claim with the next queued answer
// {status, body, headers} (the last one repeats) and records the requests.
function startStub() {
  const stub = { hits: [], answers: [] };
  stub.server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (b) => { body += b; });
    req.on('end', () => {
      stub.hits.push({ at: Date.now(), headers: req.headers, body, method: req.method });
      const a = stub.answers.length > 1 ? stub.answers.shift() : stub.answers[0];
      res.writeHead(a.status, { 'Content-Type': 'application/json; charset=utf-8', ...(a.headers || {}) });
      res.end(JSON.stringify(a.body));
    });
  });
  return new Promise((resolve) => {
    stub.server.listen(0, '127.0.0.1', () => {
      stub.url = 'http://127.0.0.1:' + stub.server.address().port + '/hongbao/send';
      resolve(stub);
    });
  });
}

// stopExample stops a server of startExample.
async function stopExample(srv) {
  if (!srv || srv.child.exitCode !== null || srv.child.signalCode !== null) return;
  const exited = new Promise((resolve) => srv.child.on('exit', resolve));
  srv.child.kill('SIGTERM');
  await exited;
}

// waitFor polls f (async) every 20 ms for 10 s.
async function waitFor(what, f) {
  const deadline = Date.now() + 10000;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(what + ': not within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

process.on('exit', () => { if (built) fs.rmSync(built.dir, { recursive: true, force: true }); });

describe('claim.js against the example server', () => {
  let srv;
  before(async () => { srv = await startExample(); });
  after(() => stopExample(srv));

  it('pays and opens from a scan scene, and a repeat tap gets the same package', async () => {
    const wx = fakeWx({ scene: 1047 });
    const first = await claim.claimRedPacket(srv.token, { wx, url: srv.url });
    assert.deepEqual(wx.rec.problems, []);
    assert.equal(first.result, 'opened', JSON.stringify(first));
    assert.equal(first.rail, 'redpacket');
    assert.deepEqual(wx.rec.toasts, [claim.MESSAGES.opened]);
    assert.deepEqual(wx.rec.modals, []);
    assert.equal(wx.rec.loading, 0);
    const sent = wx.rec.requests[0];
    assert.equal(sent.method, 'POST');
    assert.deepEqual(sent.data, { scene: 1047 });
    assert.equal(sent.header.Authorization, 'Bearer ' + srv.token);
    assert.equal(sent.header['Accept-Language'], 'zh_CN');

    const again = fakeWx({ scene: 1011, enterOptions: false });
    const second = await claim.claimRedPacket(srv.token, { wx: again, url: srv.url });
    assert.deepEqual(again.rec.problems, []);
    assert.equal(second.result, 'opened', JSON.stringify(second));
    assert.equal(again.rec.packets[0].package, wx.rec.packets[0].package);
  });

  it('logs in with wx.login, claims and opens, and keeps the token until it expires', async () => {
    const openid = 'oClaimJsLogin_' + crypto.randomBytes(6).toString('hex');
    const codeUrl = srv.base + '/demo/code?openid=' + openid;
    const storage = new Map();
    const wx = fakeWx({ scene: 1047, codeUrl, storage });
    const opts = { wx, url: srv.url, loginUrl: srv.loginUrl };
    const first = await claim.claimRedPacket(opts);
    assert.deepEqual(wx.rec.problems, []);
    assert.equal(first.result, 'opened', JSON.stringify(first));
    assert.equal(wx.rec.logins, 1);
    const [loginReq, claimReq] = wx.rec.requests;
    assert.equal(loginReq.url, srv.loginUrl);
    assert.equal(loginReq.method, 'POST');
    assert.ok(typeof loginReq.data.code === 'string' && loginReq.data.code.length > 0);
    const kept = storage.get(claim.SESSION_KEY);
    assert.ok(kept && kept.expiresAt > Date.now() + 3600 * 1000, JSON.stringify(kept));
    assert.equal(claimReq.header.Authorization, 'Bearer ' + kept.token);
    // The token's subject is the openid wx.login's code was issued for.
    const claims = JSON.parse(Buffer.from(kept.token.split('.')[1], 'base64url').toString());
    assert.equal(claims.sub, openid);

    // A second tap reuses the kept token: no wx.login, the same packet.
    const again = fakeWx({ scene: 1047, codeUrl, storage });
    const second = await claim.claimRedPacket({ ...opts, wx: again });
    assert.equal(second.result, 'opened', JSON.stringify(second));
    assert.equal(again.rec.logins, 0);
    assert.equal(again.rec.requests.length, 1);
    assert.equal(again.rec.packets[0].package, wx.rec.packets[0].package);

    // In its last minute the token is not used: a new login, the same user.
    storage.set(claim.SESSION_KEY, { ...kept, expiresAt: Date.now() + 30 * 1000 });
    const late = fakeWx({ scene: 1047, codeUrl, storage });
    const third = await claim.claimRedPacket({ ...opts, wx: late });
    assert.equal(third.result, 'opened', JSON.stringify(third));
    assert.equal(late.rec.logins, 1);
    assert.equal(late.rec.packets[0].package, wx.rec.packets[0].package);
  });

  it('logs in again when the kept token is refused', async () => {
    const openid = 'oClaimJsRelogin_' + crypto.randomBytes(6).toString('hex');
    const storage = new Map([[claim.SESSION_KEY, { token: 'not.a.token', expiresAt: Date.now() + 3600 * 1000 }]]);
    const wx = fakeWx({ scene: 1011, codeUrl: srv.base + '/demo/code?openid=' + openid, storage });
    const out = await claim.claimRedPacket({ wx, url: srv.url, loginUrl: srv.loginUrl });
    assert.equal(out.result, 'opened', JSON.stringify(out));
    assert.equal(wx.rec.logins, 1);
    assert.deepEqual(wx.rec.requests.map((r) => r.url), [srv.url, srv.loginUrl, srv.url]);
    assert.notEqual(storage.get(claim.SESSION_KEY).token, 'not.a.token');
  });

  it("sends the client's language", async () => {
    const wx = fakeWx({ scene: 1025, sentScene: 1001, language: 'en' });
    const out = await claim.claimRedPacket(srv.token, { wx, url: srv.url });
    assert.equal(out.code, 'scene_not_supported');
    assert.equal(wx.rec.requests[0].header['Accept-Language'], 'en');
  });

  it('says why a login failed, and claims nothing', async () => {
    const wx = fakeWx({ scene: 1047 }); // wx.login fails
    const out = await claim.claimRedPacket({ wx, url: srv.url, loginUrl: srv.loginUrl });
    assert.equal(out.result, 'failed');
    assert.equal(out.code, 'wx_login_failed');
    assert.deepEqual(wx.rec.modals, [claim.MESSAGES.loginFailed]);
    assert.equal(wx.rec.requests.length, 0);
    assert.equal(wx.rec.loading, 0);
  });

  it('closing the packet unopened says it can be claimed again', async () => {
    const wx = fakeWx({ scene: 1124, open: 'sendBizRedPacket:fail cancel' });
    const out = await claim.claimRedPacket(srv.token, { wx, url: srv.url });
    assert.deepEqual(wx.rec.problems, []);
    assert.equal(out.result, 'cancelled');
    assert.deepEqual(wx.rec.toasts, [claim.MESSAGES.cancelled]);
  });

  it('never calls the server from a scene that cannot open red packets', async () => {
    for (const scene of [1001, 1089, undefined]) {
      const wx = fakeWx({ scene });
      const out = await claim.claimRedPacket(srv.token, { wx, url: srv.url });
      assert.equal(out.result, 'failed');
      assert.equal(out.code, 'scene_not_supported');
      assert.equal(wx.rec.requests.length, 0, 'scene ' + scene + ' reached the server');
      assert.deepEqual(wx.rec.modals, [claim.MESSAGES.scene]);
      assert.equal(wx.rec.packets.length, 0);
    }
  });

  it('handles the server refusing a scene the client lied about', async () => {
    const wx = fakeWx({ scene: 1025, sentScene: 1001 });
    const out = await claim.claimRedPacket(srv.token, { wx, url: srv.url });
    assert.equal(wx.rec.requests.length, 1);
    assert.equal(out.status, 403);
    assert.equal(out.code, 'scene_not_supported');
    assert.deepEqual(wx.rec.modals, [claim.MESSAGES.scene]);
    assert.equal(wx.rec.packets.length, 0);
    assert.equal(wx.rec.loading, 0);
  });

  it('asks to log in again without a valid token', async () => {
    for (const token of ['', 'not.a.token']) {
      const wx = fakeWx({ scene: 1047 });
      const out = await claim.claimRedPacket(token, { wx, url: srv.url });
      assert.equal(out.status, 401, JSON.stringify(out));
      assert.equal(wx.rec.requests.length, 1);
      assert.deepEqual(wx.rec.modals, [claim.MESSAGES.relogin]);
      assert.equal(wx.rec.packets.length, 0);
    }
  });
});

describe('claim.js against the example server on the transfer rail', () => {
  let srv;
  before(async () => { srv = await startExample({ HONGBAO_RAIL: 'transfer' }); });
  after(() => stopExample(srv));

  // claimed answers the claim route directly (no page) with the token.
  const claimed = (token) => fetch(srv.url, {
    method: 'POST', headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' }, body: '{"scene":1047}',
  });

  it('logs in, claims, shows the transfer for the user to confirm, and is told it was received once the platform notifies', async () => {
    const openid = 'oClaimJsTransfer_' + crypto.randomBytes(6).toString('hex');
    const codeUrl = srv.base + '/demo/code?openid=' + openid;
    const storage = new Map();
    const confirmUrl = srv.base + '/demo/confirm';
    // The user closes the page first: the same transfer stays offered.
    const closing = fakeWx({ scene: 1047, codeUrl, storage, confirmUrl, openId: openid, confirm: 'requestMerchantTransfer:fail cancel' });
    const opts = { url: srv.url, loginUrl: srv.loginUrl };
    const first = await claim.claimRedPacket({ ...opts, wx: closing });
    assert.deepEqual(closing.rec.problems, []);
    assert.equal(first.result, 'cancelled', JSON.stringify(first));
    assert.equal(first.rail, 'transfer');
    assert.deepEqual(closing.rec.toasts, [claim.MESSAGES.cancelled]);
    assert.equal(closing.rec.packets.length, 0, 'wx.sendBizRedPacket was called');

    // Then confirms: the page is shown, which is not yet a payment.
    const wx = fakeWx({ scene: 1047, codeUrl, storage, confirmUrl, openId: openid });
    const second = await claim.claimRedPacket({ ...opts, wx });
    assert.deepEqual(wx.rec.problems, []);
    assert.equal(second.result, 'shown', JSON.stringify(second));
    assert.equal(second.rail, 'transfer');
    assert.deepEqual(wx.rec.toasts, [claim.MESSAGES.shown]);
    assert.deepEqual(wx.rec.modals, []);
    assert.equal(wx.rec.loading, 0);
    assert.equal(wx.rec.logins, 0, 'the kept token was not used');
    assert.equal(wx.rec.transfers.length, 1);
    assert.deepEqual(Object.keys(wx.rec.transfers[0]).sort(), TRANSFER_KEYS);
    assert.equal(wx.rec.transfers[0].package, closing.rec.transfers[0].package, 'a repeat tap showed another transfer');
    assert.equal(wx.rec.confirmed[0].state, 'SUCCESS', JSON.stringify(wx.rec.confirmed));

    // The platform notifies the server; the next tap says it was received.
    const token = storage.get(claim.SESSION_KEY).token;
    await waitFor('the notification', async () => (await claimed(token)).status === 410);
    const later = fakeWx({ scene: 1047, codeUrl, storage, confirmUrl, openId: openid });
    const third = await claim.claimRedPacket({ ...opts, wx: later });
    assert.equal(third.result, 'failed');
    assert.equal(third.status, 410);
    assert.equal(third.code, 'already_received');
    assert.deepEqual(later.rec.modals, [claim.MESSAGES.received]);
    assert.equal(later.rec.transfers.length, 0);
  });

  it('with sceneCheck off, shows a transfer to a user who opened the mini program from the chat list', async () => {
    const openid = 'oClaimJsChatList_' + crypto.randomBytes(6).toString('hex');
    const codeUrl = srv.base + '/demo/code?openid=' + openid;
    const confirmUrl = srv.base + '/demo/confirm';
    const wx = fakeWx({ scene: 1089, codeUrl, storage: new Map(), confirmUrl, openId: openid });
    const out = await claim.claimRedPacket({ url: srv.url, loginUrl: srv.loginUrl, wx, sceneCheck: false });
    assert.deepEqual(wx.rec.problems, []);
    assert.equal(out.result, 'shown', JSON.stringify(out));
    assert.equal(out.rail, 'transfer');
    assert.equal(wx.rec.requests.filter((r) => r.url === srv.url)[0].data.scene, 1089);
    assert.equal(wx.rec.transfers.length, 1);
  });

  it('asks an older WeChat to update, and the same transfer waits for it', async () => {
    const openid = 'oClaimJsOldWeChat_' + crypto.randomBytes(6).toString('hex');
    const codeUrl = srv.base + '/demo/code?openid=' + openid;
    const storage = new Map();
    const confirmUrl = srv.base + '/demo/confirm';
    const old = fakeWx({ scene: 1047, codeUrl, storage, confirmUrl, openId: openid, transferApi: false });
    const opts = { url: srv.url, loginUrl: srv.loginUrl };
    const out = await claim.claimRedPacket({ ...opts, wx: old });
    assert.equal(out.result, 'failed');
    assert.equal(out.code, 'upgrade_required');
    assert.deepEqual(old.rec.modals, [claim.MESSAGES.upgradeTransfer]);
    assert.match(claim.MESSAGES.upgradeTransfer, /升级微信/);
    assert.equal(old.rec.loading, 0);

    // Updated: the same transfer is shown and confirmed.
    const updated = fakeWx({ scene: 1047, codeUrl, storage, confirmUrl, openId: openid });
    const again = await claim.claimRedPacket({ ...opts, wx: updated });
    assert.equal(again.result, 'shown', JSON.stringify(again));
    assert.equal(updated.rec.confirmed[0].state, 'SUCCESS');
  });

  it("refuses a transfer opened by another WeChat user", async () => {
    const openid = 'oClaimJsOwner_' + crypto.randomBytes(6).toString('hex');
    const wx = fakeWx({
      scene: 1011, codeUrl: srv.base + '/demo/code?openid=' + openid, confirmUrl: srv.base + '/demo/confirm', openId: 'oSomeoneElse',
    });
    const out = await claim.claimRedPacket({ url: srv.url, loginUrl: srv.loginUrl, wx });
    assert.equal(out.result, 'failed');
    assert.match(out.code, /requestMerchantTransfer:fail/);
    assert.deepEqual(wx.rec.modals, [claim.MESSAGES.openFailed]);
  });
});

describe('claim.js against a stub server', () => {
  let stub;
  before(async () => { stub = await startStub(); });
  after(() => new Promise((resolve) => stub.server.close(resolve)));

  const tap = async (answers, opts = {}) => {
    stub.hits = [];
    stub.answers = answers;
    const wx = fakeWx({ scene: 1047 });
    const out = await claim.claimRedPacket('tok', { wx, url: stub.url, ...opts });
    return { out, wx };
  };
  const err = (status, code, message = 'm', headers) => ({ status, body: { code, message }, headers });

  it('sends the scene as JSON with the token and the language', async () => {
    await tap([err(429, 'rate_limited', 'm', { 'Retry-After': '30' })]);
    assert.equal(stub.hits.length, 1);
    const h = stub.hits[0];
    assert.equal(h.method, 'POST');
    assert.equal(h.headers.authorization, 'Bearer tok');
    assert.equal(h.headers['accept-language'], 'zh_CN');
    assert.match(h.headers['content-type'], /^application\/json/);
    assert.deepEqual(JSON.parse(h.body), { scene: 1047 });
  });

  it('retries a 503 after its Retry-After, three tries at most', async () => {
    const start = Date.now();
    const { out, wx } = await tap([err(503, 'outcome_unknown', 'm', { 'Retry-After': '1' })]);
    assert.equal(stub.hits.length, claim.MAX_TRIES);
    assert.equal(claim.MAX_TRIES, 3);
    assert.equal(out.tries, 3);
    for (let i = 1; i < stub.hits.length; i++) {
      assert.ok(stub.hits[i].at - stub.hits[i - 1].at >= 950, 'retried before Retry-After');
    }
    assert.ok(Date.now() - start < 5000);
    assert.deepEqual(wx.rec.modals, [claim.MESSAGES.pending]);
    assert.equal(wx.rec.loading, 0);
  });

  it('opens the packet when a retried 503 turns into 200', async () => {
    const pay = { timeStamp: String(Math.floor(Date.now() / 1000)), nonceStr: 'n0nce', package: 'sendid%3Dabc%26ver%3D8', signType: 'MD5' };
    pay.paySign = paySignOf(pay);
    const { out, wx } = await tap([err(503, 'in_progress', 'm', { 'Retry-After': '0' }), { status: 200, body: pay }]);
    assert.equal(stub.hits.length, 2);
    assert.deepEqual(wx.rec.problems, []);
    assert.equal(out.result, 'opened');
    assert.deepEqual(wx.rec.packets, [pay]);
  });

  it('does not retry a 503 without Retry-After or with a long one', async () => {
    let r = await tap([err(503, 'merchant_unavailable')]);
    assert.equal(stub.hits.length, 1);
    assert.deepEqual(r.wx.rec.modals, [claim.MESSAGES.unavailable]);
    r = await tap([err(503, 'rate_limited_upstream', 'm', { 'Retry-After': '120' })]);
    assert.equal(stub.hits.length, 1);
    assert.deepEqual(r.wx.rec.modals, [claim.MESSAGES.busy]);
  });

  it('answers every status of the table with its message', async () => {
    const M = claim.MESSAGES;
    const cases = [
      [err(400, 'malformed_body'), M.badRequest],
      [err(401, 'unauthenticated'), M.relogin],
      [err(401, 'token_expired'), M.relogin],
      [err(403, 'scene_not_supported'), M.scene],
      [err(403, 'risk_control'), M.riskControl],
      [err(403, 'user_limit_reached'), M.userLimit],
      [err(403, 'campaign_over', '活动已结束，感谢参与'), '活动已结束，感谢参与'],
      [err(403, 'refused', ''), M.refused],
      [err(405, 'method_not_allowed'), M.badRequest],
      [err(409, 'grant_conflict'), M.conflict],
      [err(410, 'claim_window_expired'), M.expired],
      [err(410, 'attempts_exhausted'), M.exhausted],
      [err(410, 'already_received'), M.received],
      [err(413, 'body_too_large'), M.badRequest],
      [err(429, 'rate_limited', 'm', { 'Retry-After': '3' }), M.tooFrequent],
      [err(500, 'policy_error'), M.serverError],
      [err(500, 'internal_error'), M.serverError],
      [err(502, 'send_failed'), M.sendFailed],
      [err(502, 'platform_rejected'), M.platformRejected],
      [err(502, 'platform_error'), M.platformError],
      [err(503, 'outcome_unknown'), M.pending],
      [err(503, 'in_progress'), M.pending],
      [err(504, 'gateway_timeout'), M.serverError],
      [{ status: 200, body: { timeStamp: 1 } }, M.badAnswer],
    ];
    for (const [answer, want] of cases) {
      const { out, wx } = await tap([answer]);
      assert.equal(stub.hits.length, 1, JSON.stringify(answer));
      assert.equal(out.result, 'failed');
      assert.deepEqual(wx.rec.modals, [want], JSON.stringify(answer));
      assert.match(wx.rec.modals[0], /[\u4e00-\u9fff]/);
      assert.equal(wx.rec.packets.length, 0);
      assert.equal(wx.rec.loading, 0);
    }
  });

  it("answers the login route's errors with their messages", async () => {
    const M = claim.MESSAGES;
    for (const [answer, want] of [
      [err(503, 'login_busy', 'm', { 'Retry-After': '2' }), M.loginBusy],
      [err(429, 'login_rate_limited'), M.loginBusy],
      [err(403, 'login_blocked'), M.loginBlocked],
      [err(502, 'login_misconfigured'), M.loginMisconfigured],
      [err(400, 'invalid_code'), M.loginFailed],
    ]) {
      stub.hits = [];
      stub.answers = [answer];
      const codeStub = http.createServer((req, res) => { res.end('{"code":"c0de"}'); });
      await new Promise((resolve) => codeStub.listen(0, '127.0.0.1', resolve));
      const wx = fakeWx({ scene: 1047, codeUrl: 'http://127.0.0.1:' + codeStub.address().port + '/' });
      const out = await claim.claimRedPacket({ wx, url: stub.url, loginUrl: stub.url });
      await new Promise((resolve) => codeStub.close(resolve));
      assert.equal(out.result, 'failed');
      assert.equal(out.code, answer.body.code);
      assert.deepEqual(wx.rec.modals, [want], JSON.stringify(answer));
      assert.equal(stub.hits.length, 1, 'only the login was sent');
      assert.deepEqual(JSON.parse(stub.hits[0].body), { code: 'c0de' });
      assert.equal(wx.rec.loading, 0);
    }
  });

  it('hands a transfer answer to wx.requestMerchantTransfer, exactly its three fields, and checks it', async () => {
    const page = { rail: 'transfer', mchId: DEMO_MCH_ID, appId: DEMO_APP_ID, package: 'pkg+/=' };
    stub.hits = [];
    stub.answers = [{ status: 200, body: page }];
    const calls = [];
    const wx = fakeWx({ scene: 1047 });
    wx.canIUse = (name) => name === 'sendBizRedPacket' || name === 'requestMerchantTransfer';
    wx.requestMerchantTransfer = (o) => { calls.push(o); setImmediate(() => o.fail({ errMsg: 'requestMerchantTransfer:fail 系统错误' })); };
    const out = await claim.claimRedPacket('tok', { wx, url: stub.url });
    assert.equal(calls.length, 1);
    assert.deepEqual(Object.keys(calls[0]).filter((k) => typeof calls[0][k] !== 'function').sort(), TRANSFER_KEYS);
    assert.equal(calls[0].package, 'pkg+/=');
    assert.equal(out.result, 'failed');
    assert.deepEqual(wx.rec.modals, [claim.MESSAGES.openFailed]);

    for (const bad of [{ ...page, package: '' }, { rail: 'transfer', mchId: DEMO_MCH_ID, appId: DEMO_APP_ID }, { ...page, rail: 'other' }]) {
      stub.answers = [{ status: 200, body: bad }];
      const w = fakeWx({ scene: 1047 });
      w.canIUse = () => true;
      w.requestMerchantTransfer = () => { throw new Error('called with ' + JSON.stringify(bad)); };
      const r = await claim.claimRedPacket('tok', { wx: w, url: stub.url });
      assert.equal(r.code, 'bad_answer', JSON.stringify(bad));
      assert.deepEqual(w.rec.modals, [claim.MESSAGES.badAnswer]);
    }
  });

  it('reports a network failure', async () => {
    const closed = http.createServer();
    await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = 'http://127.0.0.1:' + closed.address().port + '/hongbao/send';
    await new Promise((resolve) => closed.close(resolve));
    const wx = fakeWx({ scene: 1047 });
    const out = await claim.claimRedPacket('tok', { wx, url });
    assert.equal(out.code, 'network_error');
    assert.equal(wx.rec.requests.length, 1);
    assert.deepEqual(wx.rec.modals, [claim.MESSAGES.network]);
  });

  it('asks for a newer WeChat without sendBizRedPacket', async () => {
    stub.hits = [];
    const wx = fakeWx({ scene: 1047 });
    wx.canIUse = () => false;
    const out = await claim.claimRedPacket('tok', { wx, url: stub.url });
    assert.equal(out.code, 'upgrade_required');
    assert.equal(stub.hits.length, 0);
    assert.deepEqual(wx.rec.modals, [claim.MESSAGES.upgrade]);
  });
});
