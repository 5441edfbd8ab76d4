package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
	"github.com/hongbao-go/hongbao/xml"
)

// The benchmarks run the fake platform in a child process (this test
// binary, started with benchServerEnv set), so that allocs/op counts the
// client's allocations only.
const benchServerEnv = "HONGBAO_TRANSPORT_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) == "1" {
		serveBench()
		return
	}
	os.Exit(m.Run())
}

// benchServer describes the fake to the benchmark process.
type benchServer struct {
	URL, MchID, APIKey, AppID string
	CA, Cert, Key             []byte
}

// serveBench runs a wxpaytest.Server, writes its description as one JSON
// line, then answers each line "handshakes" with the count, until stdin
// closes.
func serveBench() {
	srv, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer srv.Close()
	json.NewEncoder(os.Stdout).Encode(benchServer{srv.URL, srv.MchID, srv.APIKey, srv.AppID,
		srv.CACertPEM(), srv.ClientCertPEM(), srv.ClientKeyPEM()})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Println(srv.Handshakes())
	}
}

type benchFake struct {
	benchServer
	in  io.WriteCloser
	out *bufio.Scanner
}

func startBenchFake(b *testing.B) *benchFake {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	f := &benchFake{in: in, out: bufio.NewScanner(out)}
	f.out.Buffer(nil, 1<<20)
	b.Cleanup(func() { in.Close(); cmd.Wait() })
	if !f.out.Scan() {
		b.Fatal("the fake platform did not start")
	}
	if err := json.Unmarshal(f.out.Bytes(), &f.benchServer); err != nil {
		b.Fatal(err)
	}
	return f
}

func (f *benchFake) handshakes(b *testing.B) int64 {
	io.WriteString(f.in, "handshakes\n")
	if !f.out.Scan() {
		b.Fatal("the fake platform is gone")
	}
	n, _ := strconv.ParseInt(f.out.Text(), 10, 64)
	return n
}

// warmup is how many calls each benchmark makes before the timer starts.
const warmup = 200

// benchBillno writes a unique mch_billno for call i.
func benchBillno(run string, i int) string {
	return fmt.Sprintf("%s%s%010d", wxpaytest.DefaultMchID, run, i)
}

// BenchmarkSendMiniProgramHB compares one sendminiprogramhb call through
// the Transport, by Call (call) and by an http.Client (transport), with
// the least a hand-written keep-alive client does for the same call: sign,
// marshal, POST, read, decode (floor). Compare runs with benchstat:
//
//	go test -run '^$' -bench 'BenchmarkSendMiniProgramHB$' -benchmem -count 8 ./transport
func BenchmarkSendMiniProgramHB(b *testing.B) {
	f := startBenchFake(b)
	url := f.URL + wxpaytest.PathSendMiniProgramHB
	runs := 0
	check := func(b *testing.B, doc *xml.Document, billno string) {
		if doc.Fields["result_code"] != "SUCCESS" || doc.Fields["mch_billno"] != billno {
			b.Fatalf("reply %v", doc.Fields)
		}
	}
	// report adds the TLS handshakes of the run (warm-up included) and the
	// client's CPU time per call, steadier than ns/op on a busy machine.
	report := func(b *testing.B, before int64, cpu time.Duration) {
		if cpu := cpuTime() - cpu; cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
		b.ReportMetric(float64(f.handshakes(b)-before), "handshakes")
	}

	// timed makes warmup calls, then b.N timed ones, each with a fresh
	// bill number of the run.
	timed := func(b *testing.B, run string, call func(billno string)) {
		before := f.handshakes(b)
		for i := range warmup {
			call(benchBillno(run, 9_000_000_000+i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		for i := 0; i < b.N; i++ {
			call(benchBillno(run, i))
		}
		b.StopTimer()
		report(b, before, cpu)
	}
	newTransport := func(b *testing.B) *transport.Transport {
		tr, err := transport.New(transport.Config{
			MchID: f.MchID, APIKey: f.APIKey, CertPEM: f.Cert, KeyPEM: f.Key, RootCAPEM: f.CA, BaseURL: f.URL,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(tr.CloseIdleConnections)
		return tr
	}

	// transport: an http.Client over the Transport (RoundTrip), the
	// parameters given by NewRequest, the reply read with ReplyOf.
	b.Run("transport", func(b *testing.B) {
		runs++
		run := fmt.Sprintf("1%07d", runs)
		client := &http.Client{Transport: newTransport(b)}
		ctx := context.Background()
		timed(b, run, func(billno string) {
			req, err := transport.NewRequest(ctx, url, sendParams(f.AppID, billno))
			if err != nil {
				b.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			doc, _ := transport.ReplyOf(resp)
			resp.Body.Close()
			check(b, doc, billno)
		})
	})

	// call: Transport.Call, the way hongbao.Client sends.
	b.Run("call", func(b *testing.B) {
		runs++
		run := fmt.Sprintf("3%07d", runs)
		tr := newTransport(b)
		ctx := context.Background()
		timed(b, run, func(billno string) {
			doc, err := tr.Call(ctx, url, sendParams(f.AppID, billno))
			if err != nil {
				b.Fatal(err)
			}
			check(b, doc, billno)
		})
	})

	b.Run("floor", func(b *testing.B) {
		runs++
		run := fmt.Sprintf("2%07d", runs)
		s, err := signer.New(f.APIKey)
		if err != nil {
			b.Fatal(err)
		}
		cert, err := tls.X509KeyPair(f.Cert, f.Key)
		if err != nil {
			b.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(f.CA)
		hc := &http.Client{Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}},
			MaxIdleConnsPerHost: 16,
		}}
		defer hc.CloseIdleConnections()
		call := func(billno string) {
			p := sendParams(f.AppID, billno)
			p["mch_id"] = f.MchID
			p["nonce_str"] = signer.Nonce()
			if p["sign"], err = s.Sign(p); err != nil {
				b.Fatal(err)
			}
			body, err := xml.Marshal(p)
			if err != nil {
				b.Fatal(err)
			}
			resp, err := hc.Post(url, "text/xml; charset=utf-8", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatal(resp.StatusCode, err)
			}
			doc, err := xml.Unmarshal(data)
			if err != nil {
				b.Fatal(err)
			}
			check(b, doc, billno)
		}
		timed(b, run, call)
	})
}
