package store_test

import (
	"testing"

	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/storetest"
)

func TestMemoryStoreBudget(t *testing.T) {
	storetest.TestBudget(t, func(*testing.T) (store.Store, store.Store) {
		m := store.NewMemoryStore()
		return m, m
	})
}
