package claim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
)

// DefaultScenes are the mini program's launch scenes from which
// wx.sendBizRedPacket can open a red packet: 1011 (QR code), 1025
// (barcode), 1047 (mini-program code) and 1124 (a "一物一码" code). From any
// other scene it fails with "scene <n> not support" after the money was
// sent, and the packet is refunded 24 hours later.
var DefaultScenes = []int{1011, 1025, 1047, 1124}

// sceneGate refuses, before anything is paid, a claim whose body names a
// launch scene that cannot open red packets. The scene is the client's
// word: the gate protects the user from a packet they could not open, never
// the money (a client that lies about its scene only gets a packet it
// cannot open).
type sceneGate struct {
	allowed  []int
	required bool // a claim without a scene is refused too
}

func newSceneGate(allowed []int, required bool) sceneGate {
	if allowed == nil {
		allowed = DefaultScenes
	}
	return sceneGate{allowed: slices.Clone(allowed), required: required}
}

var errNoScene = &HandlerError{Status: http.StatusForbidden, Code: "scene_not_supported",
	Message: "open the mini program by scanning its code to receive the red packet"}

// check reads {"scene": <number>} from body (a JSON value or nil) and
// answers whether the claim may go on.
func (g sceneGate) check(body []byte) *HandlerError {
	scene, present, herr := sceneOf(body)
	if herr != nil {
		return herr
	}
	if !present {
		if g.required {
			return newError(http.StatusBadRequest, "scene_required",
				"the claim names no launch scene: send the scene of wx.getEnterOptionsSync() as scene", errSceneMissing)
		}
		return nil
	}
	if slices.Contains(g.allowed, scene) {
		return nil
	}
	e := *errNoScene
	e.Err = sceneError(scene)
	return &e
}

type sceneError int

func (s sceneError) Error() string {
	return "claim: launch scene " + strconv.Itoa(int(s)) + " cannot open red packets"
}

var errSceneMissing = errors.New("claim: the claim names no launch scene")

// sceneOf returns the "scene" member of a JSON object body; present is
// false when the body is empty, not an object, or has no such member (or
// null). A scene that is not a whole number is a malformed body.
func sceneOf(body []byte) (scene int, present bool, herr *HandlerError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return 0, false, nil
	}
	var v struct {
		Scene json.RawMessage `json:"scene"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, false, newError(http.StatusBadRequest, "malformed_body", "the request body is not valid JSON", err)
	}
	if len(v.Scene) == 0 || string(v.Scene) == "null" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(string(v.Scene))
	if err != nil || n < 0 {
		return 0, false, newError(http.StatusBadRequest, "malformed_body", "scene must be a whole number", nil)
	}
	return n, true, nil
}
