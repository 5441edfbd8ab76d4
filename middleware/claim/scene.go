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
	off      bool // the rail opens payouts from any scene (rail.SceneLimited)
}

// newSceneGate gates claims to allowed (DefaultScenes when nil). A rail
// whose page opens payouts from any launch scene is not gated unless
// allowed is configured.
func newSceneGate(allowed []int, required, anyScene bool) sceneGate {
	if allowed == nil {
		if anyScene {
			return sceneGate{off: true}
		}
		allowed = DefaultScenes
	}
	return sceneGate{allowed: slices.Clone(allowed), required: required}
}

var errNoScene = &HandlerError{Status: http.StatusForbidden, Code: "scene_not_supported",
	Message: "open the mini program by scanning its code to receive the red packet"}

// check reads {"scene": <number>} from body (a JSON value or nil) and
// answers whether the claim may go on.
func (g sceneGate) check(body []byte) *HandlerError {
	if g.off {
		return nil
	}
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
// null). A scene that is not a whole number is a malformed body. The member
// is matched as encoding/json matches a struct field (the last of
// duplicates, any letter case).
func sceneOf(body []byte) (scene int, present bool, herr *HandlerError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return 0, false, nil
	}
	raw, ok := sceneMember(body)
	if !ok {
		var v struct {
			Scene json.RawMessage `json:"scene"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return 0, false, newError(http.StatusBadRequest, "malformed_body", "the request body is not valid JSON", err)
		}
		raw = v.Scene
	}
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < 0 {
		return 0, false, newError(http.StatusBadRequest, "malformed_body", "scene must be a whole number", nil)
	}
	return n, true, nil
}

// sceneMember finds the raw value of the last top-level member of the JSON
// object body whose name is "scene" in any ASCII letter case, without
// decoding the body. It handles bodies of printable ASCII without escapes,
// as a mini program sends them; for any other body, or anything it does
// not expect, ok is false and the caller decodes with encoding/json.
func sceneMember(body []byte) (raw []byte, ok bool) {
	for _, c := range body {
		if c >= 0x80 || c == '\\' {
			return nil, false
		}
	}
	i := 1 // after '{'
	ws := func() {
		for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
			i++
		}
	}
	ws()
	if i < len(body) && body[i] == '}' {
		i++
		ws()
		return nil, i == len(body)
	}
	for {
		ws()
		if i >= len(body) || body[i] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(body[i+1:], '"')
		if end < 0 {
			return nil, false
		}
		name := body[i+1 : i+1+end]
		i += end + 2
		ws()
		if i >= len(body) || body[i] != ':' {
			return nil, false
		}
		i++
		ws()
		start := i
		if i = skipValue(body, i); i < 0 {
			return nil, false
		}
		if bytes.EqualFold(name, []byte("scene")) {
			raw = body[start:i]
		}
		ws()
		if i >= len(body) {
			return nil, false
		}
		switch body[i] {
		case ',':
			i++
		case '}':
			i++
			ws()
			return raw, i == len(body)
		default:
			return nil, false
		}
	}
}

// skipValue returns the index after the JSON value that starts at i in a
// body without escapes, or -1.
func skipValue(body []byte, i int) int {
	if i >= len(body) {
		return -1
	}
	switch body[i] {
	case '"':
		end := bytes.IndexByte(body[i+1:], '"')
		if end < 0 {
			return -1
		}
		return i + end + 2
	case '{', '[':
		depth := 0
		for ; i < len(body); i++ {
			switch body[i] {
			case '"':
				end := bytes.IndexByte(body[i+1:], '"')
				if end < 0 {
					return -1
				}
				i += end + 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	start := i
	for i < len(body) {
		switch body[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if i == start {
				return -1
			}
			return i
		}
		i++
	}
	return -1
}
