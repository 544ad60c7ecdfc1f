package group

import (
	"fmt"
	"testing"
	"time"
)

// FuzzConsumerGroup drives a KIP-848 group with arbitrary sequences of joins, full and keepalive
// heartbeats, heartbeats whose response is lost, leaves, static leaves and returns, clock jumps
// and topic changes, from up to six clients. After every step (cgHarness.check) no partition is
// owned by two clients nor held by two members, and no member is ahead of the target epoch; at
// the end, members that keep heartbeating converge to a Stable group.
func FuzzConsumerGroup(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 1, 0, 1, 1, 0, 3, 0, 0, 1, 1, 0})
	f.Add([]byte{0, 0, 1, 0, 1, 1, 5, 0, 0, 1, 1, 0, 0, 2, 1, 6, 0, 12, 1, 1, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 2, 7, 0, 1, 1, 0, 0, 4, 1, 0, 7, 0, 2, 1, 0, 0, 6, 0, 6})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newCGHarness(t, map[string]int32{"t": 4, "u": 2})
		var order []*cgClient
		pick := func(who byte) *cgClient {
			if len(order) == 0 {
				return nil
			}
			return order[int(who)%len(order)]
		}
		for i := 0; i+2 < len(data); i += 3 {
			op, who, arg := data[i]%9, data[i+1], data[i+2]
			c := pick(who)
			switch op {
			case 0:
				if len(order) < 6 {
					inst := ""
					if arg%2 == 1 {
						inst = fmt.Sprintf("i%d", arg%4)
					}
					subs := [][]string{{"t"}, {"t", "u"}, {"u"}, {"t", "v"}}[int(arg/2)%4]
					nc, _ := h.join(inst, subs...)
					order = append(order, nc)
				}
			case 1, 2:
				if c != nil && !c.left {
					h.heartbeat(c, op == 1)
				}
			case 3:
				if c != nil && !c.left {
					req := h.req(c)
					h.send(c, req, false)
				}
			case 4, 5:
				if c != nil && !c.left && (op == 4 || c.instance != nil) {
					req := h.req(c)
					req.MemberEpoch = -1
					if op == 5 {
						req.MemberEpoch = -2
					}
					h.send(c, req, true)
				}
			case 6:
				h.advance(time.Duration(arg%16) * time.Second)
			case 7:
				switch arg % 3 {
				case 0:
					h.addTopic("t", h.topics["t"].partitions+1)
				case 1:
					h.addTopic("v", 3)
				case 2:
					delete(h.topics, "u")
				}
			case 8:
				if c != nil && c.left && c.instance != nil {
					nc, _ := h.join(*c.instance, c.sub...)
					order = append(order, nc)
				}
			}
		}
		// Everyone still in keeps heartbeating: the group settles.
		for range 3 {
			for _, c := range order {
				if !c.left {
					h.heartbeat(c, true)
				}
			}
		}
		live := 0
		for _, c := range order {
			if !c.left {
				live++
			}
		}
		if live > 0 && len(h.g.members) > 0 {
			for range 10 {
				for _, c := range order {
					if !c.left {
						h.heartbeat(c, true)
					}
				}
			}
			if st := h.g.state(); st != ConsumerStable && !awayStatic(h.g) {
				t.Fatalf("group did not settle: %v", st)
			}
		}
	})
}

// awayStatic reports whether a static member that left with -2 holds partitions: the group
// cannot be Stable until it returns or expires.
func awayStatic(g *consumerGroup) bool {
	for _, m := range g.members {
		if m.epoch == epochLeaveStatic {
			return true
		}
	}
	return false
}
