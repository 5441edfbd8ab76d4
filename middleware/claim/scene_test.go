package claim

import "testing"

// TestSceneGateFollowsTheRail: the red packet's page opens packets only from
// some launch scenes, the transfer's from any; a configured list gates both.
func TestSceneGateFollowsTheRail(t *testing.T) {
	cases := []struct {
		name     string
		allowed  []int
		anyScene bool
		body     string
		code     string // "" when the claim may go on
	}{
		{"red packet, scanned code", nil, false, `{"scene":1047}`, ""},
		{"red packet, chat list", nil, false, `{"scene":1089}`, "scene_not_supported"},
		{"red packet, no scene", nil, false, `{}`, "scene_required"},
		{"transfer, chat list", nil, true, `{"scene":1089}`, ""},
		{"transfer, no scene", nil, true, `{}`, ""},
		{"transfer, configured scenes", []int{1047}, true, `{"scene":1089}`, "scene_not_supported"},
		{"transfer, configured scenes, none named", []int{1047}, true, `{}`, "scene_required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			herr := newSceneGate(c.allowed, true, c.anyScene).check([]byte(c.body))
			switch {
			case c.code == "" && herr != nil:
				t.Fatalf("refused with %s", herr.Code)
			case c.code != "" && (herr == nil || herr.Code != c.code):
				t.Fatalf("got %v, want %s", herr, c.code)
			}
		})
	}
}
