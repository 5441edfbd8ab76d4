package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	stdxml "encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"
	"github.com/go-pay/util"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
	"github.com/hongbao-go/hongbao/xml"
)

// The fake platform runs in a child process (this test binary, started
// with fakeEnv=1), so that allocs/op and cpu-ns/op count the calling side
// only. Every contender talks to the same child over mutual TLS.
const fakeEnv = "HONGBAO_BENCH_FAKE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		serveFake()
		return
	}
	os.Exit(m.Run())
}

// fakeInfo describes the fake platform to the benchmark process.
type fakeInfo struct {
	URL, MchID, APIKey, AppID string
	CA, Cert, Key             []byte
	// APIv3, public-key mode.
	MerchantSerial, APIv3Key, PublicKeyID string
	PublicKeyPEM                          []byte
}

// serveFake runs a wxpaytest.Server, writes its description as one JSON
// line, then answers one line per command read from stdin until stdin
// closes: "handshakes" (the count so far), "v3handshakes" (those of
// connections without a client certificate: APIv3's), "sends BILLNO" (how
// many sends of BILLNO reached processing), "creates OUT_BILL_NO" (how
// many creates of the transfer bill reached processing) and "reset"
// (forget request records).
func serveFake() {
	srv, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer srv.Close()
	out := bufio.NewWriter(os.Stdout)
	json.NewEncoder(out).Encode(fakeInfo{srv.URL, srv.MchID, srv.APIKey, srv.AppID,
		srv.CACertPEM(), srv.ClientCertPEM(), srv.ClientKeyPEM(),
		srv.MerchantSerial(), srv.APIv3Key(), srv.PublicKeyID(), srv.PublicKeyPEM()})
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "handshakes":
			fmt.Fprintln(out, srv.Handshakes())
		case "v3handshakes":
			fmt.Fprintln(out, srv.V3Handshakes())
		case "sends":
			fmt.Fprintln(out, srv.Sends(arg))
		case "creates":
			fmt.Fprintln(out, srv.Creates(arg))
		case "reset":
			srv.Reset()
			fmt.Fprintln(out, 0)
		default:
			fmt.Fprintln(out, -1)
		}
		out.Flush()
	}
}

type fake struct {
	fakeInfo
	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Scanner
}

func startFake(b *testing.B) *fake {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fakeEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	f := &fake{in: in, out: bufio.NewScanner(out)}
	f.out.Buffer(nil, 1<<20)
	b.Cleanup(func() { in.Close(); cmd.Wait() })
	if !f.out.Scan() {
		b.Fatal("the fake platform did not start")
	}
	if err := json.Unmarshal(f.out.Bytes(), &f.fakeInfo); err != nil {
		b.Fatal(err)
	}
	return f
}

// ask sends one command to the fake and returns its numeric answer.
func (f *fake) ask(b *testing.B, cmd string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	io.WriteString(f.in, cmd+"\n")
	if !f.out.Scan() {
		b.Fatal("the fake platform is gone")
	}
	n, err := strconv.ParseInt(f.out.Text(), 10, 64)
	if err != nil || n < 0 {
		b.Fatalf("the fake answered %q to %q", f.out.Text(), cmd)
	}
	return n
}

// The red packet every contender sends: the fields of the spec vector
// "sendminiprogramhb body", with the fake's appid and a fresh billno.
const (
	hbOpenID   = "oeDV3t7xy1IkfYFzgOsCZvdRjb45"
	hbAmount   = 100
	hbSendName = "miniprogramtest"
	hbWishing  = "wishing"
	hbActName  = "act_name"
	hbRemark   = "remark"
)

// sendParams are the ten fields a caller supplies; the clients add mch_id,
// nonce_str and sign.
func sendParams(appID, billno string) map[string]string {
	return map[string]string{
		"mch_billno":   billno,
		"wxappid":      appID,
		"send_name":    hbSendName,
		"re_openid":    hbOpenID,
		"total_amount": strconv.Itoa(hbAmount),
		"total_num":    "1",
		"wishing":      hbWishing,
		"act_name":     hbActName,
		"remark":       hbRemark,
		"notify_way":   "MINI_PROGRAM_JSAPI",
	}
}

// checkReply is the acceptance test every contender applies to a reply.
func checkReply(resultCode, gotBillno, billno, pkg string) error {
	if resultCode != "SUCCESS" || gotBillno != billno || pkg == "" {
		return fmt.Errorf("result_code %q, mch_billno %q (want SUCCESS, %q), package %q", resultCode, gotBillno, billno, pkg)
	}
	return nil
}

// contender sends one red packet with billno and checks the reply.
type contender struct {
	name  string
	code  byte // first character of its billnos
	call  func(ctx context.Context, billno string) error
	close func()
}

func hongbaoClient(f *fake) (contender, error) {
	c, err := hongbao.New(hongbao.Config{
		AppID: f.AppID,
		Transport: transport.Config{
			MchID: f.MchID, APIKey: f.APIKey, CertPEM: f.Cert, KeyPEM: f.Key, RootCAPEM: f.CA, BaseURL: f.URL,
		},
		BillnoKey: []byte("bench0billno0key0bench0billno0ke"),
		// The platform's send rate would pace a benchmark to 30 calls a
		// second; the fake has none, and the cost of a call is measured.
		Flow: hongbao.FlowControl{SendsPerMinute: -1},
		// Silent like the other contenders (a nil Logger is slog.Default,
		// a line per call), and so that benchmark lines stay whole.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return contender{}, err
	}
	return contender{
		name: "hongbao",
		code: 'H',
		call: func(ctx context.Context, billno string) error {
			res, err := c.SendMiniProgramHB(ctx, &hongbao.SendRequest{
				Billno: billno, OpenID: hbOpenID, Amount: hbAmount,
				SendName: hbSendName, Wishing: hbWishing, ActName: hbActName, Remark: hbRemark,
			})
			if err != nil {
				return err
			}
			// SendMiniProgramHB returns no error unless result_code is SUCCESS.
			return checkReply("SUCCESS", res.Billno, billno, res.Package)
		},
		close: c.Transport().CloseIdleConnections,
	}, nil
}

func transportClient(f *fake) (contender, error) {
	tr, err := transport.New(transport.Config{
		MchID: f.MchID, APIKey: f.APIKey, CertPEM: f.Cert, KeyPEM: f.Key, RootCAPEM: f.CA, BaseURL: f.URL,
	})
	if err != nil {
		return contender{}, err
	}
	hc := tr.Client()
	url := f.URL + wxpaytest.PathSendMiniProgramHB
	return contender{
		name: "transport",
		code: 'T',
		call: func(ctx context.Context, billno string) error {
			req, err := transport.NewRequest(ctx, url, sendParams(f.AppID, billno))
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			doc, ok := transport.ReplyOf(resp)
			if !ok {
				return errors.New("no decoded reply")
			}
			return checkReply(doc.Fields["result_code"], doc.Fields["mch_billno"], billno, doc.Fields["package"])
		},
		close: tr.CloseIdleConnections,
	}, nil
}

// gopayClient is github.com/go-pay/gopay v1.5.101 as its documentation
// sets it up. Its certificate client (AddCertPemFileContent) builds a
// tls.Config with InsecureSkipVerify: true and an http.Transport with
// DisableKeepAlives: true; neither can be changed through its API (the
// xhttp client sits in an unexported field), so it runs as shipped: it
// does not verify the fake's server certificate (no CA to install), and
// it makes a new TCP connection and TLS handshake for every call.
func gopayClient(f *fake) (contender, error) {
	c := wechat.NewClient(f.AppID, f.MchID, f.APIKey, true)
	c.BaseURL = f.URL // it posts to BaseURL + "/mmpaymkttransfers/sendminiprogramhb"
	if err := c.AddCertPemFileContent(f.Cert, f.Key); err != nil {
		return contender{}, err
	}
	return contender{
		name: "gopay",
		code: 'G',
		call: func(ctx context.Context, billno string) error {
			bm := make(gopay.BodyMap)
			for k, v := range sendParams(f.AppID, billno) {
				bm.Set(k, v)
			}
			bm.Set("nonce_str", util.RandomString(32))
			rsp, err := c.SendAppletRed(ctx, bm)
			if err != nil {
				return err
			}
			if rsp.ReturnCode != "SUCCESS" {
				return fmt.Errorf("return_code %q: %s", rsp.ReturnCode, rsp.ReturnMsg)
			}
			return checkReply(rsp.ResultCode, rsp.MchBillno, billno, rsp.Packages)
		},
		close: func() {},
	}, nil
}

// floorClient is the least a hand-written keep-alive client does for the
// call, with hongbao's signer and codec: sign, marshal, POST, read,
// decode. Same TLS settings and pool size as the transport.
func floorClient(f *fake) (contender, error) {
	s, err := signer.New(f.APIKey)
	if err != nil {
		return contender{}, err
	}
	cert, err := tls.X509KeyPair(f.Cert, f.Key)
	if err != nil {
		return contender{}, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(f.CA) {
		return contender{}, errors.New("no CA certificate")
	}
	pool := &http.Transport{
		TLSClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			RootCAs:      roots,
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"http/1.1"},
		},
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: transport.MaxIdleConnsPerHost,
		IdleConnTimeout:     90 * time.Second,
	}
	hc := &http.Client{Transport: pool}
	url := f.URL + wxpaytest.PathSendMiniProgramHB
	return contender{
		name: "floor",
		code: 'F',
		call: func(ctx context.Context, billno string) error {
			p := sendParams(f.AppID, billno)
			p["mch_id"] = f.MchID
			p["nonce_str"] = signer.Nonce()
			p["sign"] = s.SignWith(signer.MD5, p)
			body, err := xml.Marshal(p)
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
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
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			doc, err := xml.Unmarshal(data)
			if err != nil {
				return err
			}
			return checkReply(doc.Fields["result_code"], doc.Fields["mch_billno"], billno, doc.Fields["package"])
		},
		close: pool.CloseIdleConnections,
	}, nil
}

// billnos returns n distinct bill numbers [0-9A-Za-z] of 19 characters.
func billnos(code byte, run int64, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%c%06d%012d", code, run, i)
	}
	return out
}

// fanOut runs call(i) for every i in [0, n) on w goroutines and returns
// the first error.
func fanOut(n, w int, call func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := call(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n)) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// callers is the concurrency of the parallel runs: a fixed fan-out, so
// that it does not depend on GOMAXPROCS.
const callers = 8

// BenchmarkSendMiniProgramHB measures one sendminiprogramhb call, checked
// for result_code SUCCESS, through: the root hongbao.Client (validation,
// retry bookkeeping, typed result), the bare transport with its
// http.Client, gopay's wechat.Client.SendAppletRed, and a hand-written
// keep-alive floor. callers=1 makes the calls one after another,
// callers=8 from 8 goroutines at once (ns/op is then wall time over
// calls). Every call uses a new billno, so the fake creates a new red
// packet each time.
//
// Extra metrics: handshakes/1000calls, the TLS handshakes the fake
// completed during the timed calls per 1,000 calls; cpu-ns/op, the CPU
// time of the calling process per call (the fake runs in another process).
func BenchmarkSendMiniProgramHB(b *testing.B) {
	compare(b, startFake(b), comparison{
		makers:    []func(*fake) (contender, error){hongbaoClient, transportClient, gopayClient, floorClient},
		preflight: "%cpreflight",
		processed: "sends",
		numbers:   billnos,
		conns:     "handshakes",
		connsUnit: "handshakes/1000calls",
	})
}

// comparison is what a comparison benchmark runs: its contenders, the
// number of each one's pre-flight call (a format taking the contender's
// code), the fake's command counting the calls it processed of a number,
// the numbers of a run, and the fake's command counting connections, with
// the metric it is reported as per 1,000 timed calls.
type comparison struct {
	makers    []func(*fake) (contender, error)
	preflight string
	processed string
	numbers   func(code byte, run int64, n int) []string
	conns     string
	connsUnit string
}

// compare runs every contender of cmp against f with one caller and with callers
// concurrent callers, each timed call on a number of its own. A contender
// first makes one pre-flight call, which the fake must have processed
// exactly once; each run warms up the connections before the timer starts.
func compare(b *testing.B, f *fake, cmp comparison) {
	ctx := context.Background()
	var contenders []contender
	for _, mk := range cmp.makers {
		c, err := mk(f)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.close)
		n := fmt.Sprintf(cmp.preflight, c.code)
		if err := c.call(ctx, n); err != nil {
			b.Fatalf("%s pre-flight: %v", c.name, err)
		}
		if got := f.ask(b, cmp.processed+" "+n); got != 1 {
			b.Fatalf("%s pre-flight: the fake processed %d %s of %s, want 1", c.name, got, cmp.processed, n)
		}
		contenders = append(contenders, c)
	}

	var runs atomic.Int64
	bench := func(b *testing.B, c contender, workers int) {
		f.ask(b, "reset") // drop the fake's request records; packets and bills stay
		const warmup = 4 * callers
		ids := cmp.numbers(c.code, runs.Add(1), warmup+b.N)
		call := func(i int) error { return c.call(ctx, ids[i]) }
		if err := fanOut(warmup, workers, call); err != nil {
			b.Fatalf("%s warm-up: %v", c.name, err)
		}
		conns := f.ask(b, cmp.conns)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		var err error
		if workers == 1 {
			for i := warmup; i < warmup+b.N; i++ {
				if err = call(i); err != nil {
					break
				}
			}
		} else {
			err = fanOut(b.N, workers, func(i int) error { return call(warmup + i) })
		}
		b.StopTimer()
		cpu = cpuTime() - cpu
		if err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		if cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
		b.ReportMetric(float64(f.ask(b, cmp.conns)-conns)*1000/float64(b.N), cmp.connsUnit)
	}
	for _, mode := range []struct {
		name    string
		workers int
	}{{"callers=1", 1}, {"callers=8", callers}} {
		b.Run(mode.name, func(b *testing.B) {
			for _, c := range contenders {
				b.Run("impl="+c.name, func(b *testing.B) { bench(b, c, mode.workers) })
			}
		})
	}
}

// vector is an entry of ../testdata/vectors.json "sign".
type vector struct {
	Name   string            `json:"name"`
	Key    string            `json:"key"`
	Params map[string]string `json:"params"`
	MD5    string            `json:"MD5"`
}

func loadVector(b *testing.B, name string) vector {
	data, err := os.ReadFile("../testdata/vectors.json")
	if err != nil {
		b.Fatal(err)
	}
	var all struct{ Sign []vector }
	if err := json.Unmarshal(data, &all); err != nil {
		b.Fatal(err)
	}
	for _, v := range all.Sign {
		if v.Name == name {
			return v
		}
	}
	b.Fatalf("no vector %q", name)
	return vector{}
}

var sinkString string

// BenchmarkSign signs the 12-field body of the vector "sendminiprogramhb
// body" with MD5: hongbao's signer, gopay's exported wechat.GetReleaseSign,
// and bare md5.Sum over the prebuilt sign string (the floor: no sorting,
// joining or hex encoding).
func BenchmarkSign(b *testing.B) {
	v := loadVector(b, "sendminiprogramhb body")
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range v.Params {
			if !yield(k) {
				return
			}
		}
	})
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(k + "=" + v.Params[k] + "&")
	}
	signString := []byte(sb.String() + "key=" + v.Key)
	sum := md5.Sum(signString)
	if got := strings.ToUpper(hex.EncodeToString(sum[:])); got != v.MD5 {
		b.Fatalf("md5 of the sign string %s, want %s", got, v.MD5)
	}

	s, err := signer.New(v.Key)
	if err != nil {
		b.Fatal(err)
	}
	if got := s.SignWith(signer.MD5, v.Params); got != v.MD5 {
		b.Fatalf("hongbao sign %s, want %s", got, v.MD5)
	}
	bm := make(gopay.BodyMap, len(v.Params))
	for k, val := range v.Params {
		bm.Set(k, val)
	}
	if got := wechat.GetReleaseSign(v.Key, wechat.SignType_MD5, bm); got != v.MD5 {
		b.Fatalf("gopay sign %s, want %s", got, v.MD5)
	}

	b.Run("impl=md5.Sum", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sum = md5.Sum(signString)
		}
	})
	b.Run("impl=hongbao", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkString = s.SignWith(signer.MD5, v.Params)
		}
	})
	b.Run("impl=gopay", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkString = wechat.GetReleaseSign(v.Key, wechat.SignType_MD5, bm)
		}
	})
}

// sendRequestXML is the signed request of the vector as a struct for
// encoding/xml.
type sendRequestXML struct {
	XMLName     stdxml.Name `xml:"xml"`
	ActName     string      `xml:"act_name"`
	MchBillno   string      `xml:"mch_billno"`
	MchID       string      `xml:"mch_id"`
	NonceStr    string      `xml:"nonce_str"`
	NotifyWay   string      `xml:"notify_way"`
	ReOpenid    string      `xml:"re_openid"`
	Remark      string      `xml:"remark"`
	SendName    string      `xml:"send_name"`
	Sign        string      `xml:"sign"`
	TotalAmount string      `xml:"total_amount"`
	TotalNum    string      `xml:"total_num"`
	Wishing     string      `xml:"wishing"`
	Wxappid     string      `xml:"wxappid"`
}

// sendReplyXML is a sendminiprogramhb success reply as encoding/xml reads
// it (the same fields as gopay's wechat.SendAppletRedResponse).
type sendReplyXML struct {
	XMLName     stdxml.Name `xml:"xml"`
	ReturnCode  string      `xml:"return_code"`
	ReturnMsg   string      `xml:"return_msg"`
	ResultCode  string      `xml:"result_code"`
	ErrCode     string      `xml:"err_code"`
	ErrCodeDes  string      `xml:"err_code_des"`
	MchBillno   string      `xml:"mch_billno"`
	MchID       string      `xml:"mch_id"`
	Wxappid     string      `xml:"wxappid"`
	ReOpenid    string      `xml:"re_openid"`
	TotalAmount string      `xml:"total_amount"`
	SendListid  string      `xml:"send_listid"`
	Package     string      `xml:"package"`
}

// sendReply is a success reply in the platform's style: every string in
// CDATA.
const sendReply = `<xml>
<return_code><![CDATA[SUCCESS]]></return_code>
<return_msg><![CDATA[发放成功]]></return_msg>
<result_code><![CDATA[SUCCESS]]></result_code>
<err_code><![CDATA[SUCCESS]]></err_code>
<err_code_des><![CDATA[发放成功]]></err_code_des>
<mch_billno><![CDATA[2334580734271081478888000026]]></mch_billno>
<mch_id><![CDATA[10000100]]></mch_id>
<wxappid><![CDATA[wx2421b1c4370ec43b]]></wxappid>
<re_openid><![CDATA[oeDV3t7xy1IkfYFzgOsCZvdRjb45]]></re_openid>
<total_amount>100</total_amount>
<send_listid><![CDATA[100004170120261128000000001]]></send_listid>
<package><![CDATA[sendid=242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672&ver=8&sign=4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b2d3f1bbe1ab&mchid=10000100&appid=wx2421b1c4370ec43b]]></package>
</xml>`

var (
	sinkBytes []byte
	sinkDoc   *xml.Document
)

// BenchmarkXML encodes the signed 13-field request of the vector and
// decodes a platform-style success reply: hongbao's xml package,
// encoding/xml with a struct, and gopay's BodyMap (wechat.GenerateXml,
// which is encoding/xml through BodyMap.MarshalXML; and
// BodyMap.UnmarshalXML).
func BenchmarkXML(b *testing.B) {
	v := loadVector(b, "sendminiprogramhb body")
	p := make(map[string]string, len(v.Params)+1)
	for k, val := range v.Params {
		p[k] = val
	}
	p["sign"] = v.MD5
	st := sendRequestXML{
		ActName: p["act_name"], MchBillno: p["mch_billno"], MchID: p["mch_id"], NonceStr: p["nonce_str"],
		NotifyWay: p["notify_way"], ReOpenid: p["re_openid"], Remark: p["remark"], SendName: p["send_name"],
		Sign: p["sign"], TotalAmount: p["total_amount"], TotalNum: p["total_num"], Wishing: p["wishing"], Wxappid: p["wxappid"],
	}
	bm := make(gopay.BodyMap, len(p))
	for k, val := range p {
		bm.Set(k, val)
	}
	reply := []byte(sendReply)

	// Every encoder's output must decode to the request; every decoder
	// must find the reply's fields.
	for name, enc := range map[string]func() ([]byte, error){
		"hongbao":      func() ([]byte, error) { return xml.Marshal(p) },
		"encoding/xml": func() ([]byte, error) { return stdxml.Marshal(st) },
		"gopay":        func() ([]byte, error) { return []byte(wechat.GenerateXml(bm)), nil },
	} {
		out, err := enc()
		if err != nil {
			b.Fatalf("%s encode: %v", name, err)
		}
		doc, err := xml.Unmarshal(out)
		if err != nil || len(doc.Fields) != len(p) || doc.Fields["sign"] != v.MD5 || doc.Fields["send_name"] != p["send_name"] {
			b.Fatalf("%s encoded %s: %v", name, out, err)
		}
	}
	if doc, err := xml.Unmarshal(reply); err != nil || doc.Fields["result_code"] != "SUCCESS" || doc.Fields["package"] == "" {
		b.Fatalf("hongbao decode: %v %v", doc, err)
	}
	var r sendReplyXML
	if err := stdxml.Unmarshal(reply, &r); err != nil || r.ResultCode != "SUCCESS" || r.Package == "" {
		b.Fatalf("encoding/xml decode: %+v %v", r, err)
	}
	rbm := make(gopay.BodyMap)
	if err := stdxml.Unmarshal(reply, &rbm); err != nil || rbm.GetString("result_code") != "SUCCESS" || rbm.GetString("package") == "" {
		b.Fatalf("gopay decode: %v %v", rbm, err)
	}

	b.Run("op=encode/impl=hongbao", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBytes, _ = xml.Marshal(p)
		}
	})
	b.Run("op=encode/impl=encoding-xml-struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBytes, _ = stdxml.Marshal(st)
		}
	})
	b.Run("op=encode/impl=gopay-BodyMap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkString = wechat.GenerateXml(bm)
		}
	})
	b.Run("op=decode/impl=hongbao", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkDoc, _ = xml.Unmarshal(reply)
		}
	})
	b.Run("op=decode/impl=encoding-xml-struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r sendReplyXML
			_ = stdxml.Unmarshal(reply, &r)
			sinkString = r.Package
		}
	})
	b.Run("op=decode/impl=gopay-BodyMap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := make(gopay.BodyMap)
			_ = stdxml.Unmarshal(reply, &m)
			sinkString = m.GetString("package")
		}
	})
}
