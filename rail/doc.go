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
// # Implementing a rail
//
// A rail for the APIv3 transfer (package transfer) would:
//
//   - Name: "transfer:" + mch_id.
//   - Billno: out_bill_no, at most 32 letters and digits, an HMAC of the
//     grant key, the openid and the attempt under a key and a domain
//     separate from the red packet's (never one of its mch_billno).
//   - Check: transfer_amount within the scene's bounds (at least 10 fen),
//     the texts it sends within 32 characters (transfer_remark, and the
//     two transfer_scene_report_infos of scene 1000), which fields of
//     Payout feed which being the rail's documented choice.
//   - Send: POST transfer-bills with user_recv_style RED_PACKET. A 200
//     with WAIT_USER_CONFIRM is a Sent with Answer = package_info, Order =
//     transfer_bill_no, At = create_time. Any non-200 keeps the number:
//     429 and 5xx are Throttled or Unknown after the rail's own retries;
//     403 NOT_ENOUGH is RefusedMerchant. A re-submission whose answer is
//     unclear, or a state without package_info, is resolved by querying
//     the bill before answering (a final SUCCESS without package_info is
//     an *Error with State Paid: nothing to open).
//   - Query: GET the bill by out_bill_no; 404 is NotFound; FAIL with
//     fail_reason OVERDUE_CLOSE is Returned, any other FAIL Closed.
//   - AppendAnswer: {"mchId":..., "appId":..., "package": material} for
//     wx.requestMerchantTransfer (no server signature).
//
// Settlement news that a platform pushes (the transfer's
// MCHTRANSFER.BILL.FINISHED notification) reaches the handler through the
// Store: the notification's handler saves the number's closing State as a
// store.Result (Closed, Returned, Cancelled, or Paid), and the next tap
// acts on it as on a Query.
package rail
