package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The three forms of a Redis URL that NewFromURL accepts, told apart by
// their query: master_name names a Sentinel-managed master, addr (without
// master_name) adds seed nodes of a cluster, and anything else is one
// server.
const (
	formSingle   = "single server"
	formCluster  = "cluster"
	formSentinel = "Sentinel"
)

// urlForm reports which form rawURL has; rawURL must parse.
func urlForm(u *url.URL) string {
	q := u.Query()
	switch {
	case q.Has("master_name"):
		return formSentinel
	case q.Has("addr"):
		return formCluster
	default:
		return formSingle
	}
}

// newURLClient returns a client for rawURL: a *redis.Client for one
// server (redis.ParseURL), a *redis.ClusterClient for a cluster
// (redis.ParseClusterURL) and a failover *redis.Client for Sentinel
// (redis.ParseFailoverURL). Every client honours context deadlines.
// Errors never repeat the URL.
func newURLClient(rawURL string) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, urlError(err)
	}
	switch urlForm(u) {
	case formSentinel:
		o, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, urlError(err)
		}
		if o.MasterName == "" {
			return nil, errors.New("redisstore: invalid Redis URL: master_name is empty: name the master the Sentinels monitor")
		}
		o.ContextTimeoutEnabled = true
		return redis.NewFailoverClient(o), nil
	case formCluster:
		if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
			return nil, fmt.Errorf("redisstore: invalid Redis URL: a Redis Cluster has only database 0, the path asks for %q", db)
		}
		o, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, urlError(err)
		}
		o.ContextTimeoutEnabled = true
		return redis.NewClusterClient(o), nil
	default:
		if strings.Contains(u.Host, ",") {
			return nil, errors.New("redisstore: invalid Redis URL: several hosts separated by commas; " +
				"name a cluster's other nodes with ?addr=host:port&addr=host:port, " +
				"or Sentinels with ?master_name=name&addr=host:port")
		}
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, urlError(err)
		}
		o.ContextTimeoutEnabled = true
		return redis.NewClient(o), nil
	}
}

// urlError reports a URL that does not parse, without the URL.
func urlError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // url.Error quotes the whole URL, password included
	}
	return fmt.Errorf("redisstore: invalid Redis URL: %w", err)
}

// checkPrefix refuses a prefix that would give Redis Cluster a hash tag:
// the slot of a key that holds "{...}" is computed from the braces' content
// alone, so every key of the Store would land in one slot, on one node.
func checkPrefix(prefix string) error {
	if strings.Contains(prefix, "{") {
		return fmt.Errorf("redisstore: Options.Prefix %q contains '{': on Redis Cluster a {hash tag} "+
			"puts every key of the Store in one slot, so one node holds them all and takes all the load; "+
			"each method touches one key and needs no hash tag: remove the braces", prefix)
	}
	return nil
}

// Errors of Ping when the client does not fit the server.
var (
	// ErrClusterNode is returned by Ping when a single-server client
	// reaches a node of a Redis Cluster, where most keys would answer
	// MOVED.
	ErrClusterNode = errors.New("redisstore: the server is a node of a Redis Cluster (INFO cluster: cluster_enabled:1) " +
		"but the client is for a single server, so most keys would answer MOVED: " +
		"use the cluster form redis://host:port?addr=host2:port2&addr=host3:port3 (or redis.NewClusterClient with New)")
	// ErrNotCluster is returned by Ping when a cluster client reaches a
	// server that is not in cluster mode.
	ErrNotCluster = errors.New("redisstore: the client is for a Redis Cluster (a URL with addr=) but the server is not in cluster mode: " +
		"use the single-server form redis://host:port/db, or ?master_name=name&addr=host:port for Sentinel")
)

// ping checks that c reaches Redis and fits the server: a cluster client
// pings every master; a single-server or failover client pings and then
// asks INFO cluster, which a node of a cluster answers with
// cluster_enabled:1. A server that refuses INFO (a renamed command, an ACL)
// is taken at its PING.
func ping(ctx context.Context, c redis.UniversalClient) error {
	switch c := c.(type) {
	case *redis.ClusterClient:
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return node.Ping(ctx).Err()
		})
		if err != nil && strings.Contains(err.Error(), "cluster support disabled") {
			return ErrNotCluster
		}
		if err != nil {
			return wrap("ping", err)
		}
		return nil
	case *redis.Client:
		if err := c.Ping(ctx).Err(); err != nil {
			return wrap("ping", err)
		}
		info, err := c.Info(ctx, "cluster").Result()
		var refused redis.Error
		if errors.As(err, &refused) {
			return nil
		}
		if err != nil {
			return wrap("ping", err)
		}
		if clusterEnabled(info) {
			return ErrClusterNode
		}
		return nil
	default:
		if err := c.Ping(ctx).Err(); err != nil {
			return wrap("ping", err)
		}
		return nil
	}
}

// clusterEnabled reports whether an INFO cluster reply says
// cluster_enabled:1.
func clusterEnabled(info string) bool {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_enabled:"); ok {
			return v == "1"
		}
	}
	return false
}
