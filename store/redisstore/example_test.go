package redisstore_test

import (
	"fmt"

	"github.com/redis/go-redis/v9"

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
	// Then: claim.HandlerConfig{Client: client, Policy: policy, Store: st}

	_, err = redisstore.NewFromURL("http://:s3cret@127.0.0.1:6379/0", redisstore.Options{})
	fmt.Println(err)
	// Output:
	// shop:
	// redisstore: invalid Redis URL: redis: invalid URL scheme: http
}

// The query picks the client: addr= names the other seed nodes of a Redis
// Cluster, master_name= the master that Sentinels (the host, and more in
// addr=) watch. Call Ping at start-up: it reaches every master of a
// cluster, and refuses the single-server URL of a cluster's node.
func ExampleNewFromURL_clusterAndSentinel() {
	for _, u := range []string{
		"redis://10.0.0.1:6379/0",
		"redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379",
		"redis://10.0.0.1:26379/0?master_name=mymaster&addr=10.0.0.2:26379",
	} {
		st, err := redisstore.NewFromURL(u, redisstore.Options{})
		if err != nil {
			fmt.Println(err)
			return
		}
		switch c := st.Client().(type) {
		case *redis.ClusterClient:
			fmt.Println("cluster of", len(c.Options().Addrs), "seed nodes")
		case *redis.Client:
			if c.Options().Addr == "FailoverClient" {
				fmt.Println("a failover client: the master the Sentinels name")
			} else {
				fmt.Println("one server at", c.Options().Addr)
			}
		}
		st.Close()
	}
	// Output:
	// one server at 10.0.0.1:6379
	// cluster of 3 seed nodes
	// a failover client: the master the Sentinels name
}
