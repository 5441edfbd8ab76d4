//go:build !race

package signer_test

import (
	"testing"

	"github.com/hongbao-go/hongbao/signer"
)

// Allocation counts hold without the race detector only: it makes more
// values escape to the heap.

// With room in dst, an answer allocates nothing.
func TestAppendBizRedPacketAllocs(t *testing.T) {
	s, err := signer.New("192006250b4c09247ec02edce69f6a2d")
	if err != nil {
		t.Fatal(err)
	}
	pkg := "sendid=242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672&ver=8&sign=4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b2d3f2f66efa&mchid=11475856&appid=wxbf3b8ba6d3c1d1d8"
	buf := make([]byte, 0, 512)
	opts := &signer.BizOptions{}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.AppendBizRedPacket(buf[:0], "wxbf3b8ba6d3c1d1d8", pkg, opts); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per answer", n)
	}
}
