package jwtauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// PublicKeyPEM verifies tokens signed by an identity provider's private
// key with its public key, as published in PEM form. The key id names the
// key: a token whose kid header names another is refused.
func ExamplePublicKeyPEM() {
	// The identity provider's key pair; the server has only the PEM of
	// its public half (e.g. from HONGBAO_JWT_PUBLIC_KEY_FILE).
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fmt.Println(err)
		return
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		fmt.Println(err)
		return
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	key, err := jwtauth.PublicKeyPEM("idp-2026", publicPEM) // ES256, from the P-256 curve
	if err != nil {
		fmt.Println(err)
		return
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{key}})
	if err != nil {
		fmt.Println(err)
		return
	}

	for _, kid := range []string{"idp-2026", "idp-2025"} {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"sub": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
			"exp": time.Now().Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = kid
		signed, err := tok.SignedString(priv)
		if err != nil {
			fmt.Println(err)
			return
		}
		u, err := auth.VerifyToken(signed)
		switch {
		case errors.Is(err, jwtauth.ErrUnknownKey):
			fmt.Println(kid, "refused: unknown key")
		case err != nil:
			fmt.Println(kid, err)
		default:
			fmt.Println(kid, u.OpenID)
		}
	}

	// A private key is never taken for a public one.
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = jwtauth.PublicKeyPEM("idp-2026", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	fmt.Println(err)
	// Output:
	// idp-2026 oUpF8uMuAJO_M2pxb1Q9zNjWeS6o
	// idp-2025 refused: unknown key
	// jwtauth: key "idp-2026": PEM block is a private key; a public key is required
}
