// Package rail is the contract between the claim handler and a payout
// rail: the one narrow way the handler reaches a payment platform. Two rails
// implement it: the APIv2 red packet (hongbao.Client.Rail) and the APIv3
// merchant transfer shown as a red packet. Everything above the send (the
// JWT, the gates, the policy, terms, budget, attempts, coalescing, stores,
// metrics) is the handler's and the same for both.
//
// A [Rail] does five things:
//
//   - Name: the rail and its merchant account, stored with each result;
//   - Billno: the bill number of attempt n of a grant (the idempotency
//     key), derived in the rail's own domain and format;
//   - Check and Send: check a [Payout], and pay it under one number;
//   - Query: ask the platform where one number stands ([Bill]);
//   - AppendAnswer: build the page's answer from the stored material
//     ([Sent].Answer), on every tap, without calling the platform.
//
// The handler acts on a [State], never on a platform's codes: each rail
// maps its platform's answers to states (the table at State) and returns
// its failures as an [*Error] wrapping its own error. What the handler does
// with each state is the lifecycle of docs/design.md; in short, a grant
// moves to its next bill number only on Closed, or on Returned and
// Cancelled when it allows re-claims, and a number whose outcome is
// Unknown is sent again, never replaced.
//
// # The two rails
//
// The red packet is hongbao.Client.Rail ("redpacket:" + mch_id); the
// merchant transfer is transfer.Client.Rail ("transfer:" + mch_id), whose
// bills out_bill_no are derived in a domain of their own. Each page answer
// names its rail ("rail":"redpacket" or "transfer"), so that one page
// serves both. Each rail documents which Payout fields it sends where.
//
// # Optional parts
//
// A rail may also implement:
//
//   - [ConfirmedPayout]: its Sent is an offer the user must still accept
//     (the transfer's WAIT_USER_CONFIRM); the handler keeps the amount
//     reserved in the budget until the number is Paid;
//   - [Notifier]: its platform pushes the final state of numbers (the
//     transfer's MCHTRANSFER.BILL.FINISHED); the handler serves the
//     notify URL with it and records each [Notice] forward only;
//   - [Canceller]: it can withdraw an offer not accepted yet (the
//     transfer's cancel, at a campaign's end).
//
// News a platform pushes reaches the taps through the Store: the
// notification's handler saves the number's closing State as a
// store.Result (Closed, Returned, Cancelled, or Paid), and the next tap
// acts on it as on a Query.
package rail
