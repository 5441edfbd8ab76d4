package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport"
)

// startFake runs the fake subcommand until the test ends, and returns the
// variables it printed and its stderr.
func startFake(t *testing.T, args ...string) (env map[string]string, stderr *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr = &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"fake"}, args...), getenvOf(nil), pw, stderr)
		pw.Close()
	}()
	stopped := false
	stop = func() int {
		cancel()
		c := <-code
		stopped = true
		return c
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	env = make(map[string]string)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, pr)
	}()
	timeout := time.After(10 * time.Second)
	for env[envBillnoKey] == "" { // printed last
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("fake ended early; stderr:\n%s", stderr)
			}
			k, v, found := strings.Cut(line, "=")
			if !found || !strings.HasPrefix(k, "HONGBAO_") {
				t.Fatalf("stdout line %q is not a HONGBAO_ variable", line)
			}
			env[k] = v
		case <-timeout:
			t.Fatalf("fake printed %d variables in 10s; stderr:\n%s", len(env), stderr)
		}
	}
	return env, stderr, stop
}

func TestFake(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fake")
	env, stderr, stop := startFake(t, "-addr", "127.0.0.1:0", "-login-addr", "127.0.0.1:0", "-dir", dir, "-balance", "10000")
	for _, k := range []string{envMchID, envAppID, envAPIKey, envCertFile, envKeyFile, envCAFile, envBaseURL, envBillnoKey} {
		if env[k] == "" {
			t.Errorf("%s not printed: %v", k, env)
		}
	}
	if env[envCertFile] != filepath.Join(dir, fakeCertFile) || !strings.HasPrefix(env[envBaseURL], "https://127.0.0.1:") || len(env[envAPIKey]) != 32 {
		t.Errorf("variables: %v", env)
	}
	if st, err := os.Stat(env[envKeyFile]); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", st, err)
	}
	saved, err := os.ReadFile(filepath.Join(dir, fakeEnvFile))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		if !strings.Contains(string(saved), k+"="+v+"\n") {
			t.Errorf("%s lacks %s=%s:\n%s", fakeEnvFile, k, v, saved)
		}
	}
	if !strings.Contains(stderr.String(), "stop with Ctrl-C") {
		t.Errorf("stderr:\n%s", stderr)
	}

	// A client configured by the printed lines alone pays and queries.
	ca, err := os.ReadFile(env[envCAFile])
	if err != nil {
		t.Fatal(err)
	}
	client, err := hongbao.New(hongbao.Config{
		AppID: env[envAppID],
		Transport: transport.Config{
			MchID: env[envMchID], APIKey: env[envAPIKey],
			CertFile: env[envCertFile], KeyFile: env[envKeyFile],
			RootCAPEM: ca, BaseURL: env[envBaseURL],
		},
		BillnoKey: []byte(env[envBillnoKey]),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Transport().CloseIdleConnections()
	ctx := context.Background()
	billno, err := client.Billno("fake-campaign", "oFakeUser")
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.SendMiniProgramHB(ctx, &hongbao.SendRequest{
		Billno: billno, OpenID: "oFakeUser", Amount: 100,
		SendName: "shop", Wishing: "happy new year", ActName: "new year", Remark: "thanks",
	})
	if err != nil || res.Package == "" {
		t.Fatalf("send: %+v, %v", res, err)
	}
	info, err := client.QueryHB(ctx, billno)
	if err != nil || info.Status != hongbao.StatusSent || info.Amount != 100 {
		t.Fatalf("query: %+v, %v", info, err)
	}
	// The balance flag: 9,900 fen left, so 10,000 more is NOTENOUGH.
	other, _ := client.Billno("fake-campaign", "oOtherUser")
	_, err = client.SendMiniProgramHB(ctx, &hongbao.SendRequest{
		Billno: other, OpenID: "oOtherUser", Amount: 10000,
		SendName: "shop", Wishing: "happy new year", ActName: "new year", Remark: "thanks",
	})
	if !errors.Is(err, hongbao.ErrNotEnough) {
		t.Errorf("send beyond the balance: %v", err)
	}

	// The other subcommands work against it with the same lines.
	r := runWith(t, env, "check")
	r.wantCode(t, exitOK)
	r.wantOut(t, "answered NOT_FOUND", "verified with the public key "+env[envPublicKeyID], "answered 404 NOT_FOUND", "check: passed")
	r = runWith(t, env, "query", billno)
	r.wantCode(t, exitOK)
	r.wantOut(t, billno+"  SENT")

	if code := stop(); code != exitOK {
		t.Errorf("fake exited %d", code)
	}
	if !strings.Contains(stderr.String(), "hongbao fake: stopped") {
		t.Errorf("stderr:\n%s", stderr)
	}
	// The host is gone; a given directory stays.
	if _, err := client.QueryHB(ctx, billno); err == nil {
		t.Error("the fake host answers after stopping")
	}
	if _, err := os.Stat(env[envCertFile]); err != nil {
		t.Errorf("-dir removed: %v", err)
	}
}

func TestFakeTemporaryDir(t *testing.T) {
	env, _, stop := startFake(t, "-addr", "127.0.0.1:0", "-login-addr", "127.0.0.1:0", "-mch-id", "1234567890", "-appid", "wx1111111111111111",
		"-api-key", strings.Repeat("k", 32), "-billno-key", "a key of the test, long enough")
	if env[envMchID] != "1234567890" || env[envAppID] != "wx1111111111111111" || env[envAPIKey] != strings.Repeat("k", 32) ||
		env[envBillnoKey] != "a key of the test, long enough" {
		t.Errorf("variables: %v", env)
	}
	r := runWith(t, env, "check")
	r.wantCode(t, exitOK)
	r.wantOut(t, "certificate CN 1234567890 = HONGBAO_MCH_ID")
	dir := filepath.Dir(env[envCertFile])
	if code := stop(); code != exitOK {
		t.Errorf("fake exited %d", code)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the temporary directory %s stays: %v", dir, err)
	}
}

func TestFakeTrust(t *testing.T) {
	env, _, _ := startFake(t, "-addr", "127.0.0.1:0", "-login-addr", "127.0.0.1:0", "-trust", "certificates")
	if env[envPlatformCerts] != "true" || env[envPublicKeyID] != "" || len(env[envAPIv3Key]) != 32 {
		t.Errorf("variables: %v", env)
	}
	r := runWith(t, env, "check")
	r.wantCode(t, exitOK)
	r.wantOut(t, "ok    APIv3 platform certificates: 1 downloaded", "answered 404 NOT_FOUND", "check: passed")

	env, _, _ = startFake(t, "-addr", "127.0.0.1:0", "-login-addr", "127.0.0.1:0", "-trust", "both")
	if env[envPlatformCerts] != "true" || !strings.HasPrefix(env[envPublicKeyID], "PUB_KEY_ID_") || env[envPublicKeyFile] == "" {
		t.Errorf("variables: %v", env)
	}
	r = runWith(t, env, "query", "-transfer", "NeverCreated")
	r.wantCode(t, exitOK)
	r.wantOut(t, "NOT_FOUND")

	r = runWith(t, nil, "fake", "-addr", "127.0.0.1:0", "-trust", "none")
	r.wantCode(t, exitUsage)
	r.wantErr(t, "-trust is public-key, certificates or both")
}

func TestFakeProblems(t *testing.T) {
	r := runWith(t, nil, "fake", "-addr", "127.0.0.1:0", "-billno-key", "short")
	r.wantCode(t, exitUsage)
	r.wantErr(t, "-billno-key is 5 bytes")
	r = runWith(t, nil, "fake", "-addr", "127.0.0.1:0", "-mch-id", "not-an-id")
	r.wantCode(t, exitUsage)
	r = runWith(t, nil, "fake", "-addr", "127.0.0.1:0", "-api-key", "short")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "hongbao: fake: wxpaytest:")
	r = runWith(t, nil, "fake", "-addr", "256.0.0.1:1")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "listening")
}
