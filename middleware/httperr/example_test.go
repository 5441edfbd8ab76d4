package httperr_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/hongbao-go/hongbao/middleware/httperr"
)

func ExampleLocalize() {
	r := httptest.NewRequest(http.MethodPost, "/hongbao/send", nil)
	r.Header.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")

	fmt.Println(httperr.PreferredLanguage(r))
	fmt.Println(httperr.Message("rate_limited", r))
	fmt.Println(httperr.Localize(r, "scene_not_supported", "red packets cannot be claimed from this scene: 1001"))
	// A code outside the catalogue (a policy's own) keeps its message.
	fmt.Println(httperr.Localize(r, "campaign_over", "the campaign is over"))
	// Output:
	// zh-CN
	// 操作太频繁，请稍后再试
	// 当前场景不支持领取红包：1001
	// the campaign is over
}
