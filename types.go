package hongbao

import (
	"fmt"
	"strconv"
	"time"
)

// Scene is the scene_id of a red packet: required when the amount is below
// 100 fen or above 20000 fen.
type Scene string

// The scenes the platform accepts.
const (
	SceneNone               Scene = ""
	ScenePromotion          Scene = "PRODUCT_1" // 商品促销
	SceneLottery            Scene = "PRODUCT_2" // 抽奖
	SceneVirtualGoods       Scene = "PRODUCT_3" // 虚拟物品兑奖
	SceneStaffWelfare       Scene = "PRODUCT_4" // 企业内部福利
	SceneChannelProfitShare Scene = "PRODUCT_5" // 渠道分润
	SceneInsurance          Scene = "PRODUCT_6" // 保险回馈
	SceneLotteryPrize       Scene = "PRODUCT_7" // 彩票派奖
	SceneTaxLottery         Scene = "PRODUCT_8" // 税务刮奖
)

// Valid reports whether s is one of PRODUCT_1..PRODUCT_8 or SceneNone.
func (s Scene) Valid() bool {
	return s == SceneNone || len(s) == 9 && s[:8] == "PRODUCT_" && s[8] >= '1' && s[8] <= '8'
}

// ParseScene parses a scene_id; the empty string is SceneNone.
func ParseScene(s string) (Scene, error) {
	if sc := Scene(s); sc.Valid() {
		return sc, nil
	}
	return "", fmt.Errorf("hongbao: scene_id %q is not one of PRODUCT_1..PRODUCT_8", s)
}

// Status is the state of a red packet as gethbinfo reports it.
type Status string

// The states gethbinfo reports. StatusRefunding keeps the platform's own
// spelling, RFUND_ING.
const (
	StatusSending   Status = "SENDING"   // being sent
	StatusSent      Status = "SENT"      // sent, waiting to be claimed
	StatusFailed    Status = "FAILED"    // the send failed
	StatusReceived  Status = "RECEIVED"  // claimed by the user
	StatusRefunding Status = "RFUND_ING" // unclaimed, being refunded
	StatusRefunded  Status = "REFUND"    // unclaimed and refunded
)

// Known reports whether s is one of the six states above.
func (s Status) Known() bool {
	switch s {
	case StatusSending, StatusSent, StatusFailed, StatusReceived, StatusRefunding, StatusRefunded:
		return true
	}
	return false
}

// Paid reports whether the money left the merchant's balance for the user:
// the packet was sent and not (yet) failed. Refunding and refunded packets
// count as paid: they were sent and expired unclaimed.
func (s Status) Paid() bool {
	switch s {
	case StatusSent, StatusReceived, StatusRefunding, StatusRefunded:
		return true
	}
	return false
}

// SendRequest is one mini-program red packet. The client fills wxappid,
// mch_id, total_num=1 and notify_way=MINI_PROGRAM_JSAPI itself.
type SendRequest struct {
	// Billno is mch_billno: at most 28 characters of [0-9A-Za-z], and the
	// idempotency key of the payout. Derive it with Client.Billno so that a
	// retry, a restart or another replica arrives at the same number.
	Billno string
	// OpenID is re_openid: the user's openid under the mini program's appid.
	OpenID string
	// Amount is total_amount in fen (1/100 yuan).
	Amount int64
	// SendName is send_name, fewer than 32 characters.
	SendName string
	// Wishing is the greeting, fewer than 128 characters.
	Wishing string
	// ActName is act_name, fewer than 32 characters.
	ActName string
	// Remark is fewer than 256 characters.
	Remark string
	// Scene is scene_id, required when Amount < 100 or Amount > 20000.
	Scene Scene
}

// SendResult is a successful sendminiprogramhb reply. Its strings are its
// own (as are HBInfo's and Error's): keeping it, in a Store for example,
// does not keep the platform's whole reply in memory.
type SendResult struct {
	Billno     string
	MchID      string
	AppID      string
	OpenID     string
	Amount     int64
	SendListID string // the platform's order number
	// Package is the raw package string to hand, through
	// Client.BizRedPacketParams, to wx.sendBizRedPacket.
	Package string
}

// HBInfo is a gethbinfo reply.
type HBInfo struct {
	Billno       string
	MchID        string
	DetailID     string
	Status       Status
	SendType     string // API, UPLOAD or ACTIVITY
	HBType       string // GROUP or NORMAL
	TotalNum     int
	Amount       int64
	Reason       string // why it failed, when it did
	SendTime     time.Time
	RefundTime   time.Time
	RefundAmount int64
	Wishing      string
	Remark       string
	ActName      string
	Received     []Receipt // the hblist
}

// Receipt is one entry of gethbinfo's hblist: who claimed how much, when.
type Receipt struct {
	OpenID     string
	Amount     int64
	ReceivedAt time.Time
}

// beijing is the platform's time zone (UTC+8, no daylight saving), fixed so
// that no tzdata is needed.
var beijing = time.FixedZone("CST", 8*3600)

const platformTimeLayout = "2006-01-02 15:04:05"

func parsePlatformTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(platformTimeLayout, s, beijing)
	if err != nil {
		return time.Time{}, fmt.Errorf("hongbao: %s %q is not a time of the form %s", field, s, platformTimeLayout)
	}
	return t, nil
}

func parseFen(field, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("hongbao: %s %q is not an amount in fen", field, s)
	}
	return n, nil
}
