// claim.js: claim a red packet from the hongbao server and open it.
//
// Call claimRedPacket(token) from a tap handler. token is the JWT your
// app's login flow issued (its sub is the user's openid); the server decides
// the amount, the request carries nothing else. wx.sendBizRedPacket works
// only when the mini program was opened from a scene that allows it.
//
//   const { claimRedPacket } = require('./claim.js');
//   Page({ onClaimTap() { claimRedPacket(getApp().globalData.token); } });

const CLAIM_URL = 'https://your-server.example.com/hongbao/send';

function showError(message) {
  wx.showModal({ title: '领取失败', content: message, showCancel: false });
}

// The server answers errors as {code, message}.
function serverError(res) {
  const body = res.data && typeof res.data === 'object' ? res.data : {};
  if (res.statusCode === 401) {
    return '登录已过期，请重新登录 (' + (body.code || 'unauthorized') + ')';
  }
  return (body.message || '服务暂不可用') + ' (' + (body.code || 'HTTP ' + res.statusCode) + ')';
}

function claimRedPacket(token) {
  // Check before claiming: a packet paid to a client that cannot open it
  // waits 24 hours and goes back to the merchant.
  if (!wx.canIUse('sendBizRedPacket')) {
    showError('请升级微信后再领取 (base library 1.2.0+)');
    return;
  }
  wx.showLoading({ title: '领取中', mask: true });
  wx.request({
    url: CLAIM_URL,
    method: 'POST',
    header: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    data: {},
    success(res) {
      wx.hideLoading();
      if (res.statusCode !== 200) {
        showError(serverError(res));
        return;
      }
      const p = res.data; // exactly the five parameters below; package is already URL-encoded
      wx.sendBizRedPacket({
        timeStamp: p.timeStamp,
        nonceStr: p.nonceStr,
        package: p.package,
        signType: p.signType,
        paySign: p.paySign,
        success() {
          wx.showToast({ title: '领取成功', icon: 'success' });
        },
        fail(err) {
          const msg = (err && err.errMsg) || 'sendBizRedPacket:fail';
          if (msg.indexOf('cancel') !== -1) {
            // Closed without opening: the packet stays claimable for 24 hours,
            // and tapping again returns the same one.
            wx.showToast({ title: '已取消', icon: 'none' });
            return;
          }
          showError(msg);
        },
      });
    },
    fail(err) {
      wx.hideLoading();
      showError((err && err.errMsg) || '网络错误');
    },
  });
}

module.exports = { claimRedPacket };
