// claim.js: log in, claim a red packet from the hongbao server and open it,
// on either rail the server pays through.
//
// Call claimRedPacket() from a tap handler:
//
//   const { claimRedPacket } = require('./claim.js');
//   Page({ onClaimTap() { claimRedPacket(); } });
//
// It logs in first when it holds no valid token: wx.login gives a code,
// which the server's login route (LOGIN_URL, POST {"code": ...}) exchanges
// with WeChat for the user's openid and answers with a token whose sub is
// that openid, {token, expiresIn}. The token is kept (wx storage) until a
// minute before it expires, so later taps do not log in again; a claim
// answered 401 with a kept token logs in once more and claims again. An
// app with a login flow of its own passes its token instead:
// claimRedPacket(token). The server decides the amount: the claim carries
// only the launch scene, {"scene": 1047}, and the WeChat client's language
// (wx.getAppBaseInfo().language) as Accept-Language.
//
// Set SERVER below to your server: an https origin on the mini program's
// request-domain list (服务器域名, request 合法域名). For a try against a
// local server, tick the developer tool's 不校验合法域名 (do not verify
// domain names) and use its http address.
//
// The server's answer names its rail. {"rail":"redpacket", timeStamp,
// nonceStr, package, signType, paySign} goes to wx.sendBizRedPacket, which
// opens the red packet (the money left with the send). {"rail":"transfer",
// mchId, appId, package} goes to wx.requestMerchantTransfer (base library
// 3.3.0 or later: checked with wx.canIUse, with a message asking older
// WeChat versions to update), which shows the merchant transfer as a red
// packet for the user to confirm. Its success means the page was shown and
// confirmed there, not that the money arrived: only the platform's
// notification to the server says so, after which a tap is answered
// already_received. A transfer left unconfirmed stays offered for 24 hours:
// tapping again shows the same one.
//
// Before anything is paid it checks the launch scene: wx.sendBizRedPacket
// opens a packet only when the mini program was opened by scanning a code
// (scenes 1011, 1025, 1047, 1124). From any other scene the money would be
// sent, the packet could not be opened, and it would go back to the merchant
// 24 hours later; so the user is asked to scan the code and the server is
// not called. The server checks the scene again (403 scene_not_supported).
// On the transfer rail, whose page opens from any scene, set SCENE_CHECK to
// false (or pass options.sceneCheck = false): the server's gate is off
// there too.
//
// Every answer of the server gets a short Chinese message. 503 answers that
// carry Retry-After (seconds) are tried again after that delay, MAX_TRIES
// requests in all at most; a tap that ends on 503 tells the user to tap
// again later, which resumes the same packet and never pays twice.
//
// claimRedPacket returns a Promise of the outcome, for callers and tests:
//   {result: 'opened' | 'shown' | 'cancelled' | 'failed', rail, status, code,
//    message, tries}
// ('opened': a red packet opened; 'shown': a transfer's page shown and
// confirmed, its payment the platform's to report).
// options (all optional): url, wx (default: the global wx), maxTries,
// maxRetryWait (seconds), sceneCheck (default SCENE_CHECK).

'use strict';

const SERVER = 'https://your-server.example.com';
const CLAIM_URL = SERVER + '/hongbao/send';
const LOGIN_URL = SERVER + '/hongbao/login';

// The kept session: {token, expiresAt (ms)} under this storage key.
const SESSION_KEY = 'hongbao.session';
// A kept token is not used in its last minute.
const SESSION_MARGIN_MS = 60 * 1000;

// The launch scenes from which wx.sendBizRedPacket can open a packet:
// QR code, barcode, mini-program code, "一物一码" code.
const OPEN_SCENES = [1011, 1025, 1047, 1124];
// Whether a claim from another scene is refused before the server is
// called: true for the red-packet rail; false for the transfer rail.
const SCENE_CHECK = true;

// At most this many requests per tap, the first included.
const MAX_TRIES = 3;
// A Retry-After longer than this (seconds) is not waited for: the user is
// asked to tap again later instead.
const MAX_RETRY_WAIT = 10;

const MESSAGES = {
  scene: '请用微信扫一扫，扫描活动二维码或小程序码打开小程序后再领取红包',
  upgrade: '当前微信版本过低，请升级微信后再领取红包',
  upgradeTransfer: '当前微信版本过低，无法领取此红包，请升级微信到最新版本后再点一次领取',
  relogin: '登录已失效，请重新登录后再领取',
  badRequest: '请求有误，请更新小程序后再试',
  riskControl: '微信支付风控限制，该微信账号暂时不能领取红包',
  userLimit: '今天领取的红包已达上限，请明天再来',
  refused: '暂时不能领取这个红包',
  conflict: '这个红包已按其他条件发放，请联系客服',
  expired: '红包已超过24小时领取期限，无法再领取',
  received: '红包已领取，请到微信零钱查看',
  exhausted: '红包未能送达，请联系客服',
  tooFrequent: '操作太频繁，请稍后再试',
  serverError: '服务器出错了，请稍后再试',
  sendFailed: '红包发放失败，请稍后再试',
  platformRejected: '红包服务设置有误，请联系客服',
  platformError: '微信支付暂时出错，请稍后再试',
  pending: '红包正在发放中，请稍后再点一次领取',
  busy: '领取的人太多了，请稍后再试',
  unavailable: '红包暂时发不出，请稍后再试',
  network: '网络连接失败，请检查网络后重试',
  badAnswer: '服务器返回的数据有误，请稍后再试',
  openFailed: '红包打开失败，请稍后再试',
  cancelled: '已取消，24小时内可再次领取',
  opened: '领取成功',
  shown: '已确认领取，到账以微信支付通知为准',
  other: '领取失败，请稍后再试',
  loginFailed: '微信登录失败，请稍后再试',
  loginBusy: '微信登录繁忙，请稍后再试',
  loginBlocked: '当前微信账号存在风险，暂时无法登录',
  loginMisconfigured: '登录服务设置有误，请联系客服',
};

// launchScene returns the scene the mini program was opened from: the
// current one (hot start included) where the base library has it.
function launchScene(wx) {
  const opts = wx.getEnterOptionsSync ? wx.getEnterOptionsSync() : wx.getLaunchOptionsSync();
  return Number(opts && opts.scene);
}

function canOpenFromScene(scene) {
  return OPEN_SCENES.indexOf(scene) !== -1;
}

// headerValue looks a response header up by name, whatever its case (the
// clients of iOS, Android and the developer tool differ).
function headerValue(header, name) {
  if (!header) return undefined;
  const want = name.toLowerCase();
  for (const key in header) {
    if (Object.prototype.hasOwnProperty.call(header, key) && key.toLowerCase() === want) {
      return header[key];
    }
  }
  return undefined;
}

// retryAfter returns the Retry-After of a response in whole seconds, or -1
// when it has none (or not in seconds).
function retryAfter(res) {
  const v = headerValue(res.header, 'Retry-After');
  const s = String(v === undefined || v === null ? '' : v).trim();
  return /^\d+$/.test(s) ? Number(s) : -1;
}

// messageFor returns the message shown for a server's answer other than
// 200. body is the server's {code, message}, when it sent one.
function messageFor(status, body) {
  const code = body && typeof body.code === 'string' ? body.code : '';
  const message = body && typeof body.message === 'string' ? body.message.trim() : '';
  switch (status) {
    case 400:
    case 405:
    case 413:
      return MESSAGES.badRequest;
    case 401:
      return MESSAGES.relogin;
    case 403:
      if (code === 'scene_not_supported') return MESSAGES.scene;
      if (code === 'risk_control') return MESSAGES.riskControl;
      if (code === 'user_limit_reached') return MESSAGES.userLimit;
      // The campaign's own refusal: its message is written for the user.
      return message && message.length <= 200 ? message : MESSAGES.refused;
    case 409:
      return MESSAGES.conflict;
    case 410:
      if (code === 'attempts_exhausted') return MESSAGES.exhausted;
      if (code === 'already_received') return MESSAGES.received;
      return MESSAGES.expired;
    case 429:
      return MESSAGES.tooFrequent;
    case 502:
      if (code === 'send_failed') return MESSAGES.sendFailed;
      if (code === 'platform_rejected') return MESSAGES.platformRejected;
      return MESSAGES.platformError;
    case 503:
      if (code === 'outcome_unknown' || code === 'in_progress') return MESSAGES.pending;
      if (code === 'rate_limited_upstream') return MESSAGES.busy;
      if (code === 'merchant_unavailable') return MESSAGES.unavailable;
      return MESSAGES.serverError;
  }
  if (status >= 500) return MESSAGES.serverError;
  return MESSAGES.other + '（' + status + '）';
}

// language is the WeChat client's language ("zh_CN", "en", ...), sent as
// Accept-Language so that the server's messages match it.
function language(wx) {
  try {
    const info = wx.getAppBaseInfo ? wx.getAppBaseInfo() : wx.getSystemInfoSync();
    if (info && typeof info.language === 'string' && info.language) return info.language;
  } catch (_) { /* an old base library: fall through */ }
  return 'zh_CN';
}

// keptSession returns the kept token while it is valid, else ''.
function keptSession(wx) {
  let s;
  try { s = wx.getStorageSync(SESSION_KEY); } catch (_) { return ''; }
  if (!s || typeof s.token !== 'string' || typeof s.expiresAt !== 'number') return '';
  return Date.now() < s.expiresAt - SESSION_MARGIN_MS ? s.token : '';
}

function keepSession(wx, token, expiresIn) {
  try {
    wx.setStorageSync(SESSION_KEY, { token: token, expiresAt: Date.now() + expiresIn * 1000 });
  } catch (_) { /* storage full: the next tap logs in again */ }
}

function dropSession(wx) {
  try { wx.removeStorageSync(SESSION_KEY); } catch (_) { /* nothing kept */ }
}

// loginMessage is the message of a failed login answer.
function loginMessage(status, body) {
  const code = body && typeof body.code === 'string' ? body.code : '';
  if (code === 'login_blocked') return MESSAGES.loginBlocked;
  if (code === 'login_misconfigured') return MESSAGES.loginMisconfigured;
  if (status === 429 || status === 503) return MESSAGES.loginBusy;
  return MESSAGES.loginFailed;
}

// login calls wx.login and the server's login route; it resolves to
// {token} or {status, code, message}. A code is good for one login only.
function login(wx, loginUrl) {
  return new Promise(function (resolve) {
    wx.login({
      success: function (r) {
        if (!r || !r.code) {
          resolve({ status: 0, code: 'wx_login_failed', message: MESSAGES.loginFailed });
          return;
        }
        wx.request({
          url: loginUrl,
          method: 'POST',
          header: { 'Content-Type': 'application/json', 'Accept-Language': language(wx) },
          data: { code: r.code },
          dataType: 'json',
          success: function (res) {
            const body = res.data && typeof res.data === 'object' ? res.data : {};
            if (res.statusCode === 200 && typeof body.token === 'string' && body.token && body.expiresIn > 0) {
              keepSession(wx, body.token, body.expiresIn);
              resolve({ token: body.token });
              return;
            }
            resolve({ status: res.statusCode, code: body.code || '', message: loginMessage(res.statusCode, body) });
          },
          fail: function () { resolve({ status: 0, code: 'network_error', message: MESSAGES.network }); },
        });
      },
      fail: function () { resolve({ status: 0, code: 'wx_login_failed', message: MESSAGES.loginFailed }); },
    });
  });
}

function showError(wx, message) {
  wx.showModal({ title: '领取失败', content: message, showCancel: false });
}

// post sends one claim and resolves to {res} or {err} (no answer at all).
function post(wx, url, token, scene) {
  const header = { 'Content-Type': 'application/json', 'Accept-Language': language(wx) };
  if (token) header.Authorization = 'Bearer ' + token;
  return new Promise(function (resolve) {
    wx.request({
      url: url,
      method: 'POST',
      header: header,
      data: { scene: scene },
      dataType: 'json',
      success: function (res) { resolve({ res: res }); },
      fail: function (err) { resolve({ err: err || {} }); },
    });
  });
}

function sleep(seconds) {
  return new Promise(function (resolve) { setTimeout(resolve, seconds * 1000); });
}

// open hands the server's answer to wx.sendBizRedPacket: exactly its five
// parameters, as received (package is already URL-encoded, timeStamp a
// string).
function open(wx, p, tries) {
  return new Promise(function (resolve) {
    wx.sendBizRedPacket({
      timeStamp: p.timeStamp,
      nonceStr: p.nonceStr,
      package: p.package,
      signType: p.signType,
      paySign: p.paySign,
      success: function () {
        wx.showToast({ title: MESSAGES.opened, icon: 'success' });
        resolve({ result: 'opened', rail: 'redpacket', status: 200, tries: tries });
      },
      fail: function (err) {
        const msg = String((err && err.errMsg) || '');
        if (msg.indexOf('cancel') !== -1) {
          // Closed without opening: the packet stays claimable for 24
          // hours, and tapping again returns the same one.
          wx.showToast({ title: MESSAGES.cancelled, icon: 'none' });
          resolve({ result: 'cancelled', rail: 'redpacket', status: 200, message: MESSAGES.cancelled, tries: tries });
          return;
        }
        const message = msg.indexOf('scene') !== -1 ? MESSAGES.scene : MESSAGES.openFailed;
        showError(wx, message);
        resolve({ result: 'failed', rail: 'redpacket', status: 200, code: msg, message: message, tries: tries });
      },
    });
  });
}

function isPayment(p) {
  return !!p && typeof p === 'object' && (p.rail === undefined || p.rail === 'redpacket') &&
    ['timeStamp', 'nonceStr', 'package', 'signType', 'paySign'].every(function (k) {
      return typeof p[k] === 'string' && p[k] !== '';
    });
}

// isTransfer reports whether the answer is a merchant transfer's: the
// three parameters of wx.requestMerchantTransfer.
function isTransfer(p) {
  return !!p && typeof p === 'object' && p.rail === 'transfer' &&
    ['mchId', 'appId', 'package'].every(function (k) {
      return typeof p[k] === 'string' && p[k] !== '';
    });
}

// canTransfer reports whether this WeChat can open a merchant transfer
// (wx.requestMerchantTransfer, base library 3.3.0 or later).
function canTransfer(wx) {
  return typeof wx.requestMerchantTransfer === 'function' &&
    (!wx.canIUse || wx.canIUse('requestMerchantTransfer'));
}

// openTransfer hands the server's answer to wx.requestMerchantTransfer:
// exactly mchId, appId and package, as received. Its success is the page
// shown and confirmed, not the money received: the platform tells the
// server, and a later tap is answered already_received.
function openTransfer(wx, p, tries) {
  return new Promise(function (resolve) {
    wx.requestMerchantTransfer({
      mchId: p.mchId,
      appId: p.appId,
      package: p.package,
      success: function () {
        wx.showToast({ title: MESSAGES.shown, icon: 'none' });
        resolve({ result: 'shown', rail: 'transfer', status: 200, message: MESSAGES.shown, tries: tries });
      },
      fail: function (err) {
        const msg = String((err && err.errMsg) || '');
        if (msg.indexOf('cancel') !== -1 || msg.indexOf('close') !== -1) {
          // Closed without confirming: the transfer stays offered for 24
          // hours, and tapping again shows the same one.
          wx.showToast({ title: MESSAGES.cancelled, icon: 'none' });
          resolve({ result: 'cancelled', rail: 'transfer', status: 200, message: MESSAGES.cancelled, tries: tries });
          return;
        }
        showError(wx, MESSAGES.openFailed);
        resolve({ result: 'failed', rail: 'transfer', status: 200, code: msg, message: MESSAGES.openFailed, tries: tries });
      },
    });
  });
}

// globalWx returns the mini program's global wx, when there is one.
function globalWx() {
  return typeof wx !== 'undefined' ? wx : undefined;
}

// claimRedPacket([token], [options]) claims and opens a red packet. Without
// a token (or with options alone) it manages the session itself, logging in
// through LOGIN_URL when it holds no valid token. options (all optional):
// url, loginUrl, wx (default: the global wx), maxTries, maxRetryWait
// (seconds).
function claimRedPacket(token, options) {
  if (token && typeof token === 'object') {
    options = token;
    token = undefined;
  }
  options = options || {};
  const wx = options.wx || globalWx();
  const url = options.url || CLAIM_URL;
  const loginUrl = options.loginUrl || LOGIN_URL;
  // The session is claim.js's own unless the caller brought a token.
  const managed = token === undefined || token === null;
  const maxTries = Math.max(1, options.maxTries || MAX_TRIES);
  const maxWait = options.maxRetryWait === undefined ? MAX_RETRY_WAIT : options.maxRetryWait;
  const sceneCheck = options.sceneCheck === undefined ? SCENE_CHECK : options.sceneCheck;

  function failed(status, code, message, tries) {
    showError(wx, message);
    return { result: 'failed', status: status, code: code, message: message, tries: tries };
  }

  // Check before claiming: a packet paid to a client that cannot open it
  // waits 24 hours and goes back to the merchant. (A client that can open
  // only one rail's payout claims: the answer tells the rail.)
  if (wx.canIUse && !wx.canIUse('sendBizRedPacket') && !canTransfer(wx)) {
    return Promise.resolve(failed(0, 'upgrade_required', MESSAGES.upgrade, 0));
  }
  const scene = launchScene(wx);
  if (sceneCheck && !canOpenFromScene(scene)) {
    return Promise.resolve(failed(0, 'scene_not_supported', MESSAGES.scene, 0));
  }

  wx.showLoading({ title: '领取中', mask: true });
  let tries = 0;
  let relogged = false;
  // session resolves to a token: the caller's, the kept one or a new one.
  function session(fresh) {
    if (!managed) return Promise.resolve({ token: token, given: true });
    const kept = fresh ? '' : keptSession(wx);
    if (kept) return Promise.resolve({ token: kept, kept: true });
    return login(wx, loginUrl);
  }
  function attempt(fresh) {
    return session(fresh).then(function (s) {
      if (!s.token && !s.given) {
        wx.hideLoading();
        return failed(s.status, s.code, s.message, tries);
      }
      return claimWith(s.token, s.kept);
    });
  }
  function claimWith(tok, kept) {
    tries++;
    return post(wx, url, tok, scene).then(function (r) {
      if (r.err) {
        wx.hideLoading();
        return failed(0, 'network_error', MESSAGES.network, tries);
      }
      const res = r.res;
      if (res.statusCode === 401 && managed) {
        // The kept token expired early or the server's key changed: log
        // in once more (a new wx.login code) and claim again.
        dropSession(wx);
        if (kept && !relogged) {
          relogged = true;
          return attempt(true);
        }
      }
      if (res.statusCode === 503 && tries < maxTries) {
        const wait = retryAfter(res);
        if (wait >= 0 && wait <= maxWait) {
          return sleep(wait).then(function () { return claimWith(tok, kept); });
        }
      }
      wx.hideLoading();
      const body = res.data && typeof res.data === 'object' ? res.data : {};
      if (res.statusCode === 200) {
        if (isTransfer(body)) {
          // The transfer is an offer: nothing is paid until the user
          // confirms, so an old WeChat can update and tap again.
          if (!canTransfer(wx)) return failed(200, 'upgrade_required', MESSAGES.upgradeTransfer, tries);
          return openTransfer(wx, body, tries);
        }
        if (!isPayment(body)) return failed(200, 'bad_answer', MESSAGES.badAnswer, tries);
        if (wx.canIUse && !wx.canIUse('sendBizRedPacket')) return failed(200, 'upgrade_required', MESSAGES.upgrade, tries);
        return open(wx, body, tries);
      }
      return failed(res.statusCode, body.code || '', messageFor(res.statusCode, body), tries);
    });
  }
  return attempt(false);
}

if (typeof module !== 'undefined' && module.exports) {
  module.exports = {
    claimRedPacket: claimRedPacket,
    messageFor: messageFor,
    launchScene: launchScene,
    canOpenFromScene: canOpenFromScene,
    canTransfer: canTransfer,
    CLAIM_URL: CLAIM_URL,
    LOGIN_URL: LOGIN_URL,
    SESSION_KEY: SESSION_KEY,
    language: language,
    OPEN_SCENES: OPEN_SCENES,
    MAX_TRIES: MAX_TRIES,
    MAX_RETRY_WAIT: MAX_RETRY_WAIT,
    MESSAGES: MESSAGES,
  };
}
