package redisstore_test

import (
	"fmt"

	"github.com/hongbao-go/hongbao/store/redisstore"
)

// NewFromURL makes no connection: a Store for a Redis that is down is
// created all the same, and the handler degrades until it answers (see
// the package documentation). A malformed URL is an error that does not
// repeat the URL, which may hold a password.
func ExampleNewFromURL() {
	st, err := redisstore.NewFromURL("redis://:s3cret@127.0.0.1:6379/0", redisstore.Options{Prefix: "shop:"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	fmt.Println(st.Prefix())
	// Then: middleware.HandlerConfig{Client: client, Policy: policy, Store: st}

	_, err = redisstore.NewFromURL("http://:s3cret@127.0.0.1:6379/0", redisstore.Options{})
	fmt.Println(err)
	// Output:
	// shop:
	// redisstore: invalid Redis URL: redis: invalid URL scheme: http
}
