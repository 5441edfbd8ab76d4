// Package store is the Store contract of the claim handler: the state its
// replicas share, what package store/redisstore and users' own stores
// implement. It imports neither the handler nor anything of JWT, a web
// framework or OpenTelemetry.
//
//   - [Store]: the interface, a few commands per method on one key each
//     (terms of grants, results of bill numbers, locks, budget accounts,
//     rate-limit counters); any error means "unavailable", never a miss;
//   - [Terms]: what a grant pays, recorded before its first send;
//   - [Result]: what is known of one bill number: paid (with what the
//     page's answer needs), closed by the platform, or refused;
//   - [Budget], [BudgetState], [BudgetOp]: a campaign's account, one entry
//     per bill number, reserved, committed or released; it exists once
//     opened (BudgetOpen), so that a Store that lost it refuses to count
//     afresh, and [RebuildBudget] rebuilds it from the platform, each
//     grant through its rail ([RebuildGrant].Platform);
//   - [MemoryStore]: the Store in one process's memory, the default of a
//     single replica and the handler's fallback when a shared Store fails.
//
// Terms and Result serialise to JSON with stable tags, so that a store on
// a key-value server keeps each as one string value. Package
// store/storetest checks an implementation's budget accounts.
package store
