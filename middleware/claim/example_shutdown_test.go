package claim_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/jwttest"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// Sends run detached from their requests: a user who closes the mini
// program mid-send does not abort the payout. On shutdown, call the
// handler's Shutdown after the http.Server's, so that such sends finish
// and save their results before the process exits.
func ExampleHandler_Shutdown() {
	host, client, err := fakePlatform()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer host.Close()
	send, err := claim.NewHandler(claim.HandlerConfig{
		Client: client,
		Policy: claim.PolicyFunc(func(ctx context.Context, u jwtauth.User, body []byte) (claim.Grant, error) {
			return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "Shop",
				Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	tokens, err := jwttest.NewHS256(jwttest.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	auth, err := jwtauth.NewAuthenticator(tokens.AuthConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	server := &http.Server{Handler: auth.Middleware(send)}
	go server.Serve(ln)

	// A slow platform: the send is still on its way when the user leaves.
	sending := make(chan struct{})
	host.Inject(wxpaytest.Fault{Delay: 200 * time.Millisecond, Match: func(path string, _ map[string]string) bool {
		if path != wxpaytest.PathSendMiniProgramHB {
			return false
		}
		close(sending)
		return true
	}})
	openid := "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	token, err := tokens.Token(openid)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, leave := context.WithCancel(context.Background())
	defer leave()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ln.Addr().String(), strings.NewReader(`{"scene": 1047}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	tapped := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		tapped <- err
	}()
	<-sending
	leave() // the user closes the mini program
	fmt.Println("user left:", errors.Is(<-tapped, context.Canceled))

	// SIGTERM: first the server, then the handler.
	stop, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := server.Shutdown(stop); err != nil {
		fmt.Println(err)
	}
	fmt.Println("handler shut down:", send.Shutdown(stop))
	for _, p := range host.PacketsOf(openid) {
		fmt.Println("paid:", p.Amount, p.Status)
	}
	// Output:
	// user left: true
	// handler shut down: <nil>
	// paid: 100 SENT
}
