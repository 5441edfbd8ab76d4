package claim

// The users of the claim tests: tokens minted by middleware/jwttest, and the
// Authenticator that accepts them.

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/jwttest"
)

const (
	testIssuer   = "https://auth.hongbao.example"
	testAudience = "hongbao-api"
	testOpenID   = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
)

var testNow = time.Unix(1_700_000_000, 0)

func testClock() time.Time { return testNow }

// testTokens signs every token of the tests, with one key drawn per test
// binary, on the fixed clock the Authenticator of newAuth reads.
var testTokens = sync.OnceValue(func() *jwttest.Signer {
	s, err := jwttest.NewHS256(jwttest.Config{Issuer: testIssuer, Audience: testAudience, Now: testClock})
	if err != nil {
		panic(err)
	}
	return s
})

// newAuth returns an Authenticator that accepts the tokens of testTokens;
// mod, when set, adjusts its Config first.
func newAuth(t testing.TB, mod func(*jwtauth.Config)) *jwtauth.Authenticator {
	t.Helper()
	cfg := testTokens().AuthConfig()
	if mod != nil {
		mod(&cfg)
	}
	a, err := jwtauth.NewAuthenticator(cfg)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	return a
}

// tokenFor returns a valid token for openID.
func tokenFor(t testing.TB, openID string) string { return testTokens().MustToken(t, openID) }

type response struct {
	status int
	header http.Header
	body   string
}

// do sends req with the default client and reads the whole answer.
func do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := roundTrip(http.DefaultClient, req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	return res
}

// roundTrip sends req with c and reads the whole answer.
func roundTrip(c *http.Client, req *http.Request) (response, error) {
	res, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{res.StatusCode, res.Header, string(b)}, nil
}
