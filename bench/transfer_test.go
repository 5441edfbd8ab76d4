package bench_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/pkg/xhttp"
	wechatv3 "github.com/go-pay/gopay/wechat/v3"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// The transfer every contender creates: scene 1000 with its two report
// infos, shown as a red packet, to one user, with a fresh out_bill_no.
const (
	tbOpenID   = "oeDV3t7xy1IkfYFzgOsCZvdRjb45"
	tbAmount   = 188
	tbRemark   = "新春红包"
	tbActivity = "猜灯谜抢红包活动"
	tbReward   = "答对灯谜奖励"
)

// createBody is the JSON body of a create, for the contenders that take a
// struct.
type createBody struct {
	AppID       string       `json:"appid"`
	OutBillNo   string       `json:"out_bill_no"`
	SceneID     string       `json:"transfer_scene_id"`
	OpenID      string       `json:"openid"`
	Amount      int64        `json:"transfer_amount"`
	Remark      string       `json:"transfer_remark"`
	ReportInfos []reportInfo `json:"transfer_scene_report_infos"`
	Style       recvStyle    `json:"user_recv_style"`
}

type reportInfo struct {
	InfoType    string `json:"info_type"`
	InfoContent string `json:"info_content"`
}

type recvStyle struct {
	Type string `json:"type"`
}

func newCreateBody(appID, n string) createBody {
	return createBody{
		AppID: appID, OutBillNo: n, SceneID: "1000", OpenID: tbOpenID, Amount: tbAmount, Remark: tbRemark,
		ReportInfos: []reportInfo{{"活动名称", tbActivity}, {"奖励说明", tbReward}},
		Style:       recvStyle{"RED_PACKET"},
	}
}

// createAnswer is the platform's answer to a create.
type createAnswer struct {
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	CreateTime     string `json:"create_time"`
	State          string `json:"state"`
	PackageInfo    string `json:"package_info"`
}

// checkBill is the acceptance test every contender applies to an answer:
// the bill asked for, waiting for the user, with its package.
func checkBill(n, gotN, state, pkg string) error {
	if gotN != n || state != "WAIT_USER_CONFIRM" || pkg == "" {
		return fmt.Errorf("out_bill_no %q (want %q), state %q, package_info %q", gotN, n, state, pkg)
	}
	return nil
}

// v3Keys are the fake's APIv3 credentials, parsed.
type v3Keys struct {
	key   *rsa.PrivateKey
	pub   *rsa.PublicKey
	roots *x509.CertPool
}

func parseV3Keys(f *fake) (v3Keys, error) {
	b, _ := pem.Decode(f.Key)
	if b == nil {
		return v3Keys{}, errors.New("no merchant key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return v3Keys{}, err
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return v3Keys{}, fmt.Errorf("the merchant key is %T", k)
	}
	pub, err := apiv3.ParsePublicKeyPEM(f.PublicKeyPEM)
	if err != nil {
		return v3Keys{}, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(f.CA) {
		return v3Keys{}, errors.New("no CA certificate")
	}
	return v3Keys{key, pub, roots}, nil
}

// keepAlive is the connection pool of the floor and of the SDKs whose
// http.Client is configurable: the settings of apiv3's private pool
// (HTTP/1.1 keep-alive, 32 idle connections, no compression), trusting
// the fake's CA.
func keepAlive(roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, NextProtos: []string{"http/1.1"}},
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: apiv3.DefaultMaxConnsPerHost,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

func hongbaoTransfer(f *fake) (contender, error) {
	t, err := apiv3.New(apiv3.Config{
		MchID: f.MchID, CertPEM: f.Cert, KeyPEM: f.Key, APIv3Key: f.APIv3Key,
		PublicKeyID: f.PublicKeyID, PublicKeyPEM: f.PublicKeyPEM, RootCAPEM: f.CA, BaseURL: f.URL,
	})
	if err != nil {
		return contender{}, err
	}
	c, err := transfer.New(transfer.Config{
		AppID: f.AppID, Transport: t, BillnoKey: []byte("bench0billno0key0bench0billno0ke"),
		// The documented 100 requests a second would pace the benchmark;
		// the fake has no rate, and the cost of a call is measured.
		Flow: hongbao.FlowControl{SendsPerMinute: -1},
		// One record per attempt, built and dropped: the others log
		// nothing.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return contender{}, err
	}
	return contender{
		name: "hongbao",
		code: 'H',
		call: func(ctx context.Context, n string) error {
			b, err := c.Create(ctx, &transfer.CreateRequest{OutBillNo: n, OpenID: tbOpenID, Amount: tbAmount,
				Remark: tbRemark, ActivityName: tbActivity, RewardNote: tbReward})
			if err != nil {
				return err
			}
			return checkBill(n, b.OutBillNo, string(b.State), b.PackageInfo)
		},
		close: func() { t.Close() },
	}, nil
}

// floorTransfer is the least a hand-written client does for the call,
// with crypto/rsa and net/http keep-alive: the body, the signed message
// and its Authorization, POST, read, and the answer verified as the
// platform's rules say (Wechatpay-Serial the public key's id, the
// timestamp within 300 s, no probe signature, SHA256withRSA over
// timestamp, nonce and body), then decoded.
func floorTransfer(f *fake) (contender, error) {
	k, err := parseV3Keys(f)
	if err != nil {
		return contender{}, err
	}
	pool := keepAlive(k.roots)
	hc := &http.Client{Transport: pool}
	url := f.URL + wxpaytest.PathTransferBills
	return contender{
		name: "floor",
		code: 'F',
		call: func(ctx context.Context, n string) error {
			body, err := json.Marshal(newCreateBody(f.AppID, n))
			if err != nil {
				return err
			}
			var nb [16]byte
			rand.Read(nb[:])
			nonce := hex.EncodeToString(nb[:])
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			msg := "POST\n" + wxpaytest.PathTransferBills + "\n" + ts + "\n" + nonce + "\n" + string(body) + "\n"
			sum := sha256.Sum256([]byte(msg))
			sig, err := rsa.SignPKCS1v15(nil, k.key, crypto.SHA256, sum[:])
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", `WECHATPAY2-SHA256-RSA2048 mchid="`+f.MchID+`",nonce_str="`+nonce+
				`",timestamp="`+ts+`",serial_no="`+f.MerchantSerial+`",signature="`+base64.StdEncoding.EncodeToString(sig)+`"`)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Wechatpay-Serial", f.PublicKeyID)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d: %s", resp.StatusCode, data)
			}
			h := resp.Header
			rts, rsig := h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Signature")
			t, err := strconv.ParseInt(rts, 10, 64)
			switch {
			case h.Get("Wechatpay-Serial") != f.PublicKeyID:
				return fmt.Errorf("answer signed by %q", h.Get("Wechatpay-Serial"))
			case err != nil || time.Since(time.Unix(t, 0)).Abs() > 300*time.Second:
				return fmt.Errorf("answer timestamp %q", rts)
			case strings.HasPrefix(rsig, "WECHATPAY/SIGNTEST/"):
				return errors.New("a probe signature")
			}
			raw, err := base64.StdEncoding.DecodeString(rsig)
			if err != nil {
				return err
			}
			sum = sha256.Sum256([]byte(rts + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(data) + "\n"))
			if err := rsa.VerifyPKCS1v15(k.pub, crypto.SHA256, sum[:], raw); err != nil {
				return fmt.Errorf("answer signature: %w", err)
			}
			var a createAnswer
			if err := json.Unmarshal(data, &a); err != nil {
				return err
			}
			return checkBill(n, a.OutBillNo, a.State, a.PackageInfo)
		},
		close: pool.CloseIdleConnections,
	}, nil
}

// wechatpayGoTransfer is the official SDK's core client,
// github.com/wechatpay-apiv3/wechatpay-go v0.2.21, in public-key mode:
// core.NewClient with option.WithWechatPayPublicKeyAuthCipher (its
// SHA256WithRSASigner, and its response validator with the public-key
// verifier, which also checks the 5-minute skew) and option.WithHTTPClient
// (the floor's keep-alive pool, trusting the fake's CA). It has no
// transfer-bills API: the call is client.Post of the same struct to the
// full URL, which it signs by the URL's path, then the answer is decoded.
func wechatpayGoTransfer(f *fake) (contender, error) {
	k, err := parseV3Keys(f)
	if err != nil {
		return contender{}, err
	}
	pool := keepAlive(k.roots)
	c, err := core.NewClient(context.Background(),
		option.WithWechatPayPublicKeyAuthCipher(f.MchID, f.MerchantSerial, k.key, f.PublicKeyID, k.pub),
		option.WithHTTPClient(&http.Client{Transport: pool}))
	if err != nil {
		return contender{}, err
	}
	url := f.URL + wxpaytest.PathTransferBills
	return contender{
		name: "wechatpay-go",
		code: 'W',
		call: func(ctx context.Context, n string) error {
			res, err := c.Post(ctx, url, newCreateBody(f.AppID, n))
			if err != nil {
				return err
			}
			defer res.Response.Body.Close()
			var a createAnswer
			if err := json.NewDecoder(res.Response.Body).Decode(&a); err != nil {
				return err
			}
			return checkBill(n, a.OutBillNo, a.State, a.PackageInfo)
		},
		close: pool.CloseIdleConnections,
	}, nil
}

// gopayTransfer is github.com/go-pay/gopay v1.5.118's V3TransferBills
// with answer verification turned on (AutoVerifySignByPublicKey: off by
// default, "默认不开启"; it checks the signature only, not the skew) and
// SetProxyHost pointing it at the fake. Its default xhttp client skips
// server certificate verification and disables keep-alive; the fake's CA
// is installed through SetHttpTLSConfig (which keeps the rest of that
// transport), so that it verifies the server as the others do. With
// keepAlive, its transport is replaced (xhttp.Client.SetTransport) by the
// floor's keep-alive pool.
func gopayTransfer(keepAliveConns bool) func(f *fake) (contender, error) {
	return func(f *fake) (contender, error) {
		k, err := parseV3Keys(f)
		if err != nil {
			return contender{}, err
		}
		c, err := wechatv3.NewClientV3(f.MchID, f.MerchantSerial, f.APIv3Key, string(f.Key))
		if err != nil {
			return contender{}, err
		}
		c.SetProxyHost(f.URL)
		if err := c.AutoVerifySignByPublicKey(f.PublicKeyPEM, f.PublicKeyID); err != nil {
			return contender{}, err
		}
		hc := xhttp.NewClient()
		name, code, closeIdle := "gopay", byte('G'), func() {}
		if keepAliveConns {
			pool := keepAlive(k.roots)
			hc.SetTransport(pool)
			name, code, closeIdle = "gopay-keepalive", 'K', pool.CloseIdleConnections
		} else {
			hc.SetHttpTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: k.roots})
		}
		c.SetHttpClient(hc)
		return contender{
			name: name,
			code: code,
			call: func(ctx context.Context, n string) error {
				bm := make(gopay.BodyMap)
				bm.Set("appid", f.AppID).
					Set("out_bill_no", n).
					Set("transfer_scene_id", "1000").
					Set("openid", tbOpenID).
					Set("transfer_amount", tbAmount).
					Set("transfer_remark", tbRemark).
					Set("transfer_scene_report_infos", []map[string]string{
						{"info_type": "活动名称", "info_content": tbActivity},
						{"info_type": "奖励说明", "info_content": tbReward},
					}).
					SetBodyMap("user_recv_style", func(b gopay.BodyMap) { b.Set("type", "RED_PACKET") })
				rsp, err := c.V3TransferBills(ctx, bm)
				if err != nil {
					return err
				}
				if rsp.Code != wechatv3.Success {
					return fmt.Errorf("status %d: %s", rsp.Code, rsp.Error)
				}
				return checkBill(n, rsp.Response.OutBillNo, rsp.Response.State, rsp.Response.PackageInfo)
			},
			close: closeIdle,
		}, nil
	}
}

// outBillNos returns n distinct out_bill_no [0-9A-Za-z] of 20 characters.
func outBillNos(code byte, run int64, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("T%c%06d%012d", code, run, i)
	}
	return out
}

// BenchmarkTransferCreate measures one APIv3 transfer create (POST
// transfer-bills, scene 1000, RED_PACKET), signed with the merchant key
// and its 200 answer verified with the WeChat Pay public key, checked for
// the bill asked for in WAIT_USER_CONFIRM with a package_info, through:
// hongbao's transfer.Client (validation, retry bookkeeping, apiv3's
// Transport), a hand-written floor (crypto/rsa, net/http keep-alive),
// wechatpay-go's core client, and gopay's V3TransferBills as shipped and
// with keep-alive. All talk to the same wxpaytest host over TLS, in a
// child process. callers=1 makes the calls one after another, callers=8
// from 8 goroutines. Every call uses a new out_bill_no, so the fake
// creates a new bill each time.
//
// Extra metrics: cpu-ns/op, the CPU time of the calling process per call;
// conns/1000calls, the TLS connections the fake accepted (without a client
// certificate, so APIv3's) during the timed calls, per 1,000 calls.
//
// sign/impl=rsa is the RSA signature of one create's message alone
// (SHA-256 and rsa.SignPKCS1v15 with the 2048-bit merchant key), and
// verify/impl=rsa the verification of one answer: the share of a call
// they take is cpu-ns/op of theirs over the call's.
func BenchmarkTransferCreate(b *testing.B) {
	f := startFake(b)
	compare(b, f, comparison{
		makers:    []func(*fake) (contender, error){hongbaoTransfer, floorTransfer, wechatpayGoTransfer, gopayTransfer(false), gopayTransfer(true)},
		preflight: "T%cpreflight",
		processed: "creates",
		numbers:   outBillNos,
		conns:     "v3handshakes",
		connsUnit: "conns/1000calls",
	})

	// The RSA work of a call alone, on a message and an answer of the
	// size the calls above sign and verify.
	k, err := parseV3Keys(f)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(newCreateBody(f.AppID, "TSsign000000000000000"))
	msg := apiv3.RequestMessage(http.MethodPost, wxpaytest.PathTransferBills, time.Now().Unix(), strings.Repeat("n", 32), body)
	var sig string
	timed := func(b *testing.B, op func() error) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		if cpu = cpuTime() - cpu; cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
	b.Run("sign/impl=rsa", func(b *testing.B) {
		timed(b, func() (err error) {
			sum := sha256.Sum256(msg)
			raw, err := rsa.SignPKCS1v15(nil, k.key, crypto.SHA256, sum[:])
			sig = base64.StdEncoding.EncodeToString(raw)
			return err
		})
	})
	answer := []byte(`{"out_bill_no":"TSsign000000000000000","transfer_bill_no":"1330202612031900000109000000000000000001","create_time":"2026-12-03T17:44:30+08:00","state":"WAIT_USER_CONFIRM","package_info":"` + strings.Repeat("p", 64) + `"}`)
	ts := time.Now().Unix()
	sum := sha256.Sum256(apiv3.ResponseMessage(ts, strings.Repeat("n", 32), answer))
	raw, err := rsa.SignPKCS1v15(nil, k.key, crypto.SHA256, sum[:])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("verify/impl=rsa", func(b *testing.B) {
		timed(b, func() error {
			sum := sha256.Sum256(apiv3.ResponseMessage(ts, strings.Repeat("n", 32), answer))
			return rsa.VerifyPKCS1v15(&k.key.PublicKey, crypto.SHA256, sum[:], raw)
		})
	})
	sinkString = sig
}
