package jwtauth_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

func ExampleAuthenticator_Middleware() {
	secret := make([]byte, 32) // in production: loaded from the secret store
	if _, err := rand.Read(secret); err != nil {
		panic(err)
	}

	key, err := jwtauth.HMACKey("", secret)
	if err != nil {
		panic(err)
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{
		Keys:     []jwtauth.Key{key},
		Issuer:   "https://auth.example.com",
		Audience: "hongbao",
	})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /me", auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := jwtauth.UserFrom(r.Context()) // always there behind the middleware
		if !ok {
			http.Error(w, "not signed in", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "hello %s", user.OpenID)
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A client with a token from the issuer.
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		"iss": "https://auth.example.com",
		"aud": "hongbao",
		"exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		panic(err)
	}

	for _, authz := range []string{"Bearer " + token, ""} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/me", nil)
		if err != nil {
			panic(err)
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			panic(err)
		}
		fmt.Println(res.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 hello oUpF8uMuAJO_M2pxb1Q9zNjWeS6o
	// 401 {"code":"missing_token","message":"a bearer token is required"}
}
